"""Marks carried-out outbox rows done: the rows that finish at about the same moment in one transaction.

Each worker still waits until its own row is marked before it takes the next, so no more rows than
workers are ever carried out but unmarked, and what a kill -9 can double stays `outreach.concurrency`
rows per instance. What is saved is a transaction per row whenever rows finish together (cheap rows,
several workers).
"""

from __future__ import annotations

import asyncio

from bot.outreach import outbox
from bot.ports import Clock
from bot.storage.database import Database


class Finisher:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def finish(self, item_id: int) -> None:
        """Mark the row done; returns once that is committed (with the rows that came meanwhile)."""
        marked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item_id, marked))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await marked

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self.db.transaction() as session:
                    await outbox.finish_many(session, [item_id for item_id, _ in batch], self.clock.now())
            except Exception as exc:
                for _, marked in batch:
                    if not marked.done():
                        marked.set_exception(exc)
            else:
                for _, marked in batch:
                    if not marked.done():
                        marked.set_result(None)
