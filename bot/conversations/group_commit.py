"""Group commit: customers' messages that arrive while a transaction is running wait for it, then go through the
stages together, in one transaction with one commit.

A message alone costs a session, a BEGIN and a COMMIT round trip (and on SQLite the one writer's turn) besides
its own statements: about a fifth of its CPU (bench/README.md). When messages come in bursts (campaign replies,
many customers at once) the next ones queue while a transaction runs, and share the next one. Nothing waits for
a batch to fill: a message that finds no transaction running starts one at once (in its caller's task), so a quiet
bot answers as fast.

A batch that fails (a duplicate delivery caught by the unique message id, another instance creating the same
customer, a bug with one message, the database going away) is rolled back whole and its messages go again one by
one, each with its own outcome: one bad message never costs the others theirs, and nothing of the batch is kept
half-done. The caller keeps each chat to one message in flight, so a batch holds distinct chats in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`together(items)` runs a batch in one transaction and returns a result per item, in order; `alone(item)`
    runs one in a transaction of its own (with its own retries). At most `lanes` batches run at once, each of at
    most `max_batch` items; `inline`: an item that finds nothing running goes alone in its caller's task."""

    def __init__(
        self,
        together: Callable[[list[Item]], Awaitable[list[Result]]],
        alone: Callable[[Item], Awaitable[Result]],
        *,
        max_batch: int,
        lanes: int,
        inline: bool = False,
    ):
        self._together = together
        self._alone = alone
        self._max_batch = max(1, max_batch)
        self._lanes = max(1, lanes)
        self._inline = inline
        self._queue: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._busy_lanes = 0
        self._idle_lanes = 0  # lanes about to take a batch (just started, or between two)
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        entry = (item, future)
        self._queue.append(entry)
        if self._inline and self._busy_lanes == 0:
            try:
                await asyncio.sleep(0)  # the others handed over on the same turn of the loop (a polled batch) queue
            except asyncio.CancelledError:
                future.cancel()  # its caller gave up: not to be run
                raise
            if self._busy_lanes == 0 and len(self._queue) == 1 and self._queue[0] is entry:
                # Alone, in the caller's task: a lane's task and the hand-overs to it and back were two turns of
                # the event loop more for a message of a quiet bot; a caller that gives up now only rolls back its
                # own. Messages that come meanwhile wait for the lane started after it, as a batch. Only where
                # `alone` waits for the database (`inline`): SQLite's inline connection runs a transaction without
                # yielding, and every message of a burst went alone, one after another.
                self._queue.popleft()
                self._busy_lanes += 1
                try:
                    return await self._alone(item)
                finally:
                    self._busy_lanes -= 1
                    if self._queue:
                        self._start_lane()
        if self._busy_lanes < self._lanes:
            self._start_lane()
        return await future

    def _start_lane(self) -> None:
        # A task of its own: a caller that gives up (a webhook request cancelled) must not cut short the transaction
        # of the others in its batch.
        self._busy_lanes += 1
        self._idle_lanes += 1
        lane = asyncio.create_task(self._lane())
        self._tasks.add(lane)  # a reference, so the task is not collected while it runs
        lane.add_done_callback(self._tasks.discard)

    async def _lane(self) -> None:
        idle = True  # counted in _idle_lanes
        try:
            while self._queue:
                # An even share of what waits for each lane about to take: sixteen messages handed over at once
                # (polling) went all to the first lane, one after another, while the second had nothing to do.
                share = min(self._max_batch, -(-len(self._queue) // self._idle_lanes))
                batch: list[tuple[Item, asyncio.Future[Result]]] = []
                while self._queue and len(batch) < share:
                    entry = self._queue.popleft()
                    if not entry[1].done():  # its caller gave up before it started: nothing was stored
                        batch.append(entry)
                self._idle_lanes -= 1
                idle = False
                if batch:
                    await self._run(batch)
                self._idle_lanes += 1
                idle = True
        finally:
            # Counted down in the same step as the queue was last seen empty: a message queued after that starts a
            # lane of its own (a done-callback would run a step later, and such a message would wait for ever).
            self._busy_lanes -= 1
            if idle:
                self._idle_lanes -= 1

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            if len(batch) > 1:
                try:
                    results = await self._together([item for item, _ in batch])
                except Exception as exc:
                    log.debug("a batch of %d failed (%r); each goes again alone", len(batch), exc)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        _settle(future, result)
                    return
            for item, future in batch:
                try:
                    _settle(future, await self._alone(item))
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
        except BaseException:  # the lane itself cancelled (shutdown): its callers must not wait for ever
            for _, future in batch:
                future.cancel()
            raise


def _settle(future: asyncio.Future[Result], result: Result) -> None:
    if not future.done():  # its caller gave up meanwhile; the work stands (stored, its reply in the outbox)
        future.set_result(result)
