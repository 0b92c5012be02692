"""Protocols the core calls; adapters in handlers/ implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.messages import ChannelRef, Reply


class Channel(Protocol):
    """Delivers replies to a customer on one platform. Raises on failure so the outbox retries."""

    name: str

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class DeliveryError(Exception):
    """A send failed; `retry_after` (seconds) says when to try again, `permanent` that it never will work."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False, sent: int = 0,
        unreachable: bool = False,
    ):  # fmt: skip
        super().__init__(message)
        self.retry_after = retry_after
        # Never worth retrying (a refused message). `unreachable`: the customer cannot be reached at
        # all (they blocked us, the chat is gone), so proactive messages stop until they write again.
        self.permanent = permanent or unreachable
        self.unreachable = unreachable
        # How many of the replies were delivered before the failure (only the rest is retried).
        self.sent = sent


@dataclass(frozen=True)
class StaffNotice:
    """Something staff must hear about a ticket. `ticket` is a plain view (ref, status, customer,
    assignee, backup, deadlines, recent messages, desk thread...)."""

    # opened | claimed | reassigned | customer_message | staff_reply | note | resolved | reopened | csat
    # | sla_reminder | sla_breach | shown (someone asked to see it in the desk) | moved (a complaint left it)
    kind: str
    ticket: dict[str, Any]
    text: str = ""
    actor: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    # What the customer wrote while the ticket was only named in a summary (a flood): the notice that starts the
    # ticket's thread late shows these first, oldest first.
    earlier: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaffDigest:
    """Notices folded into one summary because many came at once for one place (a flood of new tickets or of SLA
    alarms): posted once where they would have gone, and once to each assignee concerned.

    `tickets`: short views of the notices listed (ref, summary, severity, source channel, assignee, `notice` kind),
    at most a hundred; `counts`: every folded notice per kind, listed or not; `assignees`: per staff key, their
    person view and counts; `sources`: new tickets per customer channel (web, telegram)."""

    key: str  # the digest's identity: a retry makes only the calls still missing
    place: str  # the escalation channel, or the Slack id of the person whose DM holds the tickets
    since: datetime
    until: datetime
    counts: dict[str, int]
    tickets: tuple[dict[str, Any], ...]
    assignees: dict[str, dict[str, Any]]
    sources: dict[str, int]
    max_posts: int  # the threshold that folded them, for the explanation
    window_seconds: float


class StaffDesk(Protocol):
    """Where staff work on tickets (Slack). Raises DeliveryError when it cannot be reached.

    `notify` returns where the ticket's conversation lives ({"channel": ..., "thread": ...}) when it started it: for
    "opened", or for a later notice about a ticket that had no thread yet (its opening was folded into a digest).
    """

    async def notify(self, notice: StaffNotice) -> dict[str, str] | None: ...

    async def digest(self, digest: StaffDigest) -> None: ...
