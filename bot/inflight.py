"""Customers' messages being handled now, so that background work can wait for a moment without any.

The periodic jobs (the outbox tick, the flow poll, the SLA watch...) each took 0.5-1 ms of the event loop when they
found nothing to do, every two seconds, at moments of their own. A customer's message handled meanwhile waited for
them: at the benchmark's fixed rate (bench/bench_inbound.py), 5 of the 16 slowest replies of a traced run came in
while one ran. A job now starts in a gap between messages (`quiet`), or after `at_most` seconds however busy the bot
is, so under a steady flood it runs that much late and no later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return self._count > 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """While a customer's message (or the send of its replies) is under way."""
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._idle.set()

    async def quiet(self, at_most: float) -> None:
        """Return once nothing is held (at once if nothing is), or after `at_most` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + at_most
        while self._count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), remaining)
            # One more turn of the loop: the send of the replies of a message just handled is handed to a task of
            # its own as the message's hold ends, and takes its own hold on that turn.
            await asyncio.sleep(0)
