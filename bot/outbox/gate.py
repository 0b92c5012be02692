"""The port through which proactive rows pass a delivery policy before they are carried out.

The outbox knows no policy: the campaigns feature registers its clearing (bot/outreach/delivery/clearing.py) when the
core is assembled. Without one, proactive rows are carried out as they come.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox.claims import Claimed, Outcome


class ProactiveGate(Protocol):
    async def clear(self, session: AsyncSession, items: Sequence[Claimed], now: datetime) -> dict[int, Outcome]:
        """Judge, record and apply the policy to `items` (of different customers); row id -> outcome."""
        ...

    async def deferred(self, session: AsyncSession, decision_id: int, reason: str, until: datetime) -> None:
        """A row the policy let through had to wait after all (the customer was busy): not a send."""
        ...
