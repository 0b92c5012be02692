"""A send rate shared by every instance on one database: the next free slot per channel is a row.

Each send reserves its slot with one short transaction (`next_at = max(next_at, now) + n / rate`)
and sleeps until the slot comes. However many dispatcher processes run, their sends together keep
to the rate, spread evenly rather than in bursts. Slots use the wall clock: instances share it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.outreach.models import RateSlot
from bot.storage.database import Database


class SharedRateLimiter:
    def __init__(self, db: Database, rates: Mapping[str, float]):
        # Sends per second per channel; a channel not named here is not limited (the web chat).
        self.db = db
        self.rates = dict(rates)

    def rate(self, key: str) -> float | None:
        return self.rates.get(key)

    async def acquire(self, key: str, n: int = 1) -> float:
        """Wait for the slot of `n` sends on `key`; returns the seconds waited."""
        rate = self.rates.get(key)
        if not rate or n <= 0:
            return 0.0
        slot = await self._reserve(key, n, rate)
        delay = (slot - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        return max(0.0, delay)

    async def _reserve(self, key: str, n: int, rate: float) -> datetime:
        async with self.db.transaction() as session:
            insert = pg_insert if self.db.is_postgres else sqlite_insert
            # The first instance to send on a channel creates its row; the others find it.
            await session.execute(insert(RateSlot).values(key=key, next_at=datetime.now(UTC)).on_conflict_do_nothing())
            query = select(RateSlot).where(RateSlot.key == key)
            if self.db.is_postgres:
                query = query.with_for_update()
            row = (await session.execute(query)).scalar_one()
            now = datetime.now(UTC)
            slot = max(row.next_at, now)
            row.next_at = slot + timedelta(seconds=n / rate)
            await session.flush()
            return slot
