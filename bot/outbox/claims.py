"""What the dispatcher holds about a row it claimed, and about a proactive row the delivery policy let through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    customer_id: int | None
    attempts: int
    proactive: bool
    campaign_run_id: int | None
    # Until when the lease is known to be ours (set by the claim or the last renewal).
    leased_until: datetime
    # No earlier send to the customer was waiting when the row was claimed or cleared.
    in_order: bool = False


@dataclass(frozen=True)
class Cleared:
    """A proactive row the policy let through (after a campaign message became a plain send)."""

    item: Claimed
    decision_id: int


# What clearing one row comes to: let through, held or skipped or not ours (None), or the error that
# failed this row alone (its message did not render).
Outcome = Cleared | Exception | None
