"""APScheduler drives the periodic work (the only module that imports it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


class Scheduler:
    """Ticks and cron jobs; missed runs after downtime are coalesced into one, never replayed."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        self._scheduler.add_job(_guarded(job, name), IntervalTrigger(seconds=seconds), id=name, name=name)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


def _guarded(job: Callable[[], Awaitable[object]], name: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next tick", name)

    return run
