"""Marks carried-out outbox rows done, many in one transaction, without ever letting more than one row per
worker be carried out but unmarked.

A worker (one of `outreach.concurrency`) does not wait for its row's mark: it takes its next row, waits
for its send slot, and only right before carrying that one out makes sure the previous mark is committed,
writing it then, with every mark that came meanwhile, if nobody has yet. Rate-limited sends are spaced out,
so by then the other workers' rows have finished too: one transaction marks about one row per worker, where
marking each row before the next one (about one row per transaction at a high send rate) cost a third of
the dispatcher's time. What a kill -9 can double stays one row per worker: `outreach.concurrency` rows per
instance. Marks nobody asks for are written within LINGER anyway, and `flush` writes them all. The
dispatcher's clearings write the marks waiting at the end of their own transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox import rows
from bot.ports import Clock
from bot.storage.database import Database

# How long a mark may wait for a worker to need it (or for more marks to share its transaction).
LINGER = 0.05


class Worker:
    """One of the dispatcher's workers, with the row it carried out last if that is not yet marked done."""

    def __init__(self, finisher: Finisher):
        self._finisher = finisher
        self._unmarked: asyncio.Future[None] | None = None

    def done(self, item_id: int, *, can_double: bool = True) -> None:
        """The row was carried out: mark it done, in a transaction shared with other rows. A row whose carrying
        out doubles nothing if repeated (a send to a channel that reads the transcript) does not count towards the
        one unmarked row: its mark goes with the next write, LINGER at most, and the worker goes on at once."""
        marked = self._finisher.mark(item_id)
        if can_double:
            self._unmarked = marked

    async def settle(self) -> None:
        """Returns once the last row this worker carried out is marked done (call before carrying out the
        next one). A mark that failed raises here, once: that row stays leased and is carried out again
        when its lease runs out, as if the process had died."""
        unmarked, self._unmarked = self._unmarked, None
        if unmarked is not None:
            await self._finisher.written(unmarked)


class Finisher:
    def __init__(self, db: Database, clock: Clock, workers: int):
        self.db = db
        self.clock = clock
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._wanted = False
        self._free: asyncio.Queue[Worker] = asyncio.Queue()
        for _ in range(workers):
            self._free.put_nowait(Worker(self))

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[Worker]:
        """A free worker (first come, first served), returned to the pool afterwards."""
        worker = await self._free.get()
        try:
            yield worker
        finally:
            self._free.put_nowait(worker)

    async def finish(self, item_id: int) -> None:
        """Mark the row done now (with the marks waiting); returns once that is committed."""
        await self.written(self.mark(item_id))

    def mark(self, item_id: int) -> asyncio.Future[None]:
        """The row is to be marked done; the future is resolved once that is committed."""
        marked = self._pending.get(item_id)
        if marked is None:
            marked = self._pending[item_id] = asyncio.get_running_loop().create_future()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(LINGER, self._write_soon)
        return marked

    async def written(self, marked: asyncio.Future[None]) -> None:
        """Returns once `marked` is committed, writing it now (with every mark waiting) unless under way."""
        if not marked.done() and any(waiting is marked for waiting in self._pending.values()):
            self._write_soon()
        await marked

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """`db.transaction()` that, after the caller's work, also marks done every row waiting: one transaction
        of the dispatcher's own (a clearing) instead of one more. Marks are resolved once it commits.

        Only for work that locks customers before rows, as an opt-out does: the marked rows are locked last."""
        batch: dict[int, asyncio.Future[None]] = {}
        try:
            async with self.db.transaction() as session:
                yield session
                batch, self._pending = self._pending, {}
                if batch:
                    await rows.finish_many(session, list(batch), self.clock.now())
        except BaseException:
            # Not written: they wait for the next write like any mark.
            self._pending.update(batch)
            if self._pending and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(LINGER, self._write_soon)
            raise
        for marked in batch.values():
            if not marked.done():
                marked.set_result(None)

    async def flush(self) -> None:
        """Write every mark waiting, and wait for those being written (a drain ends with its rows marked).

        A writer under way has already taken its marks out of the waiting ones: returning without waiting
        for it left a drain's last rows leased for a moment (seen in CI)."""
        while self._pending or (self._writer is not None and not self._writer.done()):
            if self._pending:
                self._write_soon()
            assert self._writer is not None
            await asyncio.gather(self._writer, return_exceptions=True)

    def _write_soon(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # A writer under way writes once more: marks that came during its transaction are wanted too.
        self._wanted = True
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._pending and self._wanted:
            self._wanted = False
            batch, self._pending = self._pending, {}
            try:
                # One statement: on PostgreSQL it commits on its own, without BEGIN and COMMIT round trips (a
                # worker waits for this write before its next row, so its round trips bound the claim rate).
                async with self.db.statements() as session:
                    await rows.finish_many(session, list(batch), self.clock.now())
            except Exception as exc:
                for marked in batch.values():
                    if not marked.done():
                        marked.set_exception(exc)
                        # Retrieved here: a mark no worker waits for (its worker ended) is not an error to log;
                        # the row stays leased and is carried out again when the lease runs out.
                        marked.exception()
            else:
                for marked in batch.values():
                    if not marked.done():
                        marked.set_result(None)
        if self._pending and self._timer is None:
            # Marks that came meanwhile, nobody needs yet: they wait for more to join them, LINGER at most.
            self._timer = asyncio.get_running_loop().call_later(LINGER, self._write_soon)
