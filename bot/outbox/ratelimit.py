"""A send rate shared by every instance on one database: the next free slot per channel is a row.

An instance reserves a short block of consecutive slots (about BLOCK of sends) with one short
transaction (`next_at = max(next_at, now) + k / rate`) and hands them out to its sends, each sleeping
until its slot comes. However many dispatcher processes run, their blocks do not overlap, so their
sends together keep to the rate, spread evenly rather than in bursts. One transaction per block, not
per send, is what lets one process keep up with a high rate. Slots use the wall clock: instances
share it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.outbox.models import RateSlot
from bot.storage.database import Database

# How much sending time one reservation covers. Short, so a block an instance cannot use (its work ran
# out) costs the others little; long enough that reservations are a small part of the work per send.
BLOCK = timedelta(seconds=0.1)


@dataclass
class _Block:
    """Slots this instance reserved on one channel: [next, end) is still free to use."""

    next: datetime
    end: datetime

    def take(self, n: int, rate: float, now: datetime) -> datetime | None:
        # A slot already past is gone; the rest of the block is still ours alone.
        slot = max(self.next, now)
        after = slot + timedelta(seconds=n / rate)
        if after > self.end:
            return None
        self.next = after
        return slot


class SharedRateLimiter:
    def __init__(self, db: Database, rates: Mapping[str, float]):
        # Sends per second per channel; a channel not named here is not limited (the web chat).
        self.db = db
        self.rates = dict(rates)
        self._blocks: dict[str, _Block] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def rate(self, key: str) -> float | None:
        return self.rates.get(key)

    async def acquire(self, key: str, n: int = 1) -> float:
        """Wait for the slot of `n` sends on `key`; returns the seconds waited."""
        slot = await self.book(key, n)
        return 0.0 if slot is None else await wait_until(slot)

    async def book(self, key: str, n: int = 1) -> datetime | None:
        """The moment `n` sends on `key` may go, booked for the caller, who may use the wait (and must
        not send before it: `wait_until`); None when `key` is not limited."""
        rate = self.rates.get(key)
        if not rate or n <= 0:
            return None
        return await self._slot(key, n, rate)

    async def _slot(self, key: str, n: int, rate: float) -> datetime:
        async with self._locks.setdefault(key, asyncio.Lock()):
            block = self._blocks.get(key)
            slot = block.take(n, rate, datetime.now(UTC)) if block is not None else None
            if slot is None:
                size = max(n, math.floor(rate * BLOCK.total_seconds()))
                block = self._blocks[key] = await self._reserve(key, size, rate)
                slot = block.take(n, rate, block.next)
                assert slot is not None
            return slot

    async def _reserve(self, key: str, n: int, rate: float) -> _Block:
        async with self.db.transaction() as session:
            insert = pg_insert if self.db.is_postgres else sqlite_insert
            # The first instance to send on a channel creates its row; the others find it.
            await session.execute(insert(RateSlot).values(key=key, next_at=datetime.now(UTC)).on_conflict_do_nothing())
            query = select(RateSlot).where(RateSlot.key == key)
            if self.db.is_postgres:
                query = query.with_for_update()
            row = (await session.execute(query)).scalar_one()
            start = max(row.next_at, datetime.now(UTC))
            row.next_at = start + timedelta(seconds=n / rate)
            await session.flush()
            return _Block(start, row.next_at)


async def wait_until(moment: datetime) -> float:
    """Sleep until `moment` (wall clock, as slots are); returns the seconds slept."""
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
    return max(0.0, delay)
