"""Runs the outbox soon after a staff action, so a reply reaches the customer at once instead of at the next tick.
Kicks while a run is going only ask for one more run; nothing piles up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Drainer:
    def __init__(self, drain: Callable[[], Awaitable[object]]):
        self._drain = drain
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def kick(self) -> None:
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._again:
            self._again = False
            try:
                await self._drain()
            except Exception:
                log.exception("dispatching after a Slack action failed (the scheduler tick will retry)")

    async def idle(self) -> None:
        """Wait until no run is going (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self, grace: float = 5.0) -> None:
        """Let a run that is going finish (its rows are leased), then stop."""
        self._again = False
        if self._task is None or self._task.done():
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
