"""APScheduler drives the periodic work: ticks, campaign cron lines, the daily tier recompute.

It holds a handful of jobs, never one per customer: per-customer work is outbox rows. Its job store
is in memory and never shared between instances (APScheduler's FAQ: you can't); what must survive a
restart (planned occurrences, the last recompute) is in the database, and the jobs read it, so
runs missed while the service was down are caught up once at start, not replayed as a storm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import crontab

log = logging.getLogger(__name__)

# The periodic jobs' first runs, this far apart after the start; each then keeps its phase. Started together, a
# dozen jobs ran back to back whenever their intervals met, holding up customers' messages on the event loop (and
# SQLite's one writer) for tens of milliseconds: the tail of the inbound latency (bench/bench_inbound.py, fixed
# rate). Run soon after the start rather than one interval later, each also pays its first-run costs (its
# statements compiled) before the traffic, and a catch-up catches up at once. The dozen jobs of `engagebot run`
# fit within the shortest interval (2 s) at this spacing, so no two of them ever run at once.
STAGGER_SECONDS = 0.15


class _CancelledByTheShutdown(logging.Filter):
    """A job handed to APScheduler's executor on the loop's turn the shutdown comes is cancelled before its first
    step, before `_guarded` can tell the cancellation apart; the executor logs it as an ERROR with a traceback. It is
    nothing but the shutdown: dropped, and told at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            log.debug("a scheduled job due as the service stopped was not started: %s", record.getMessage())
            return False
        return True


_CANCELLED_BY_THE_SHUTDOWN = _CancelledByTheShutdown()


class Scheduler:
    """Ticks and cron jobs; missed runs after downtime are coalesced into one, never replayed."""

    def __init__(self, gate: Callable[[], Awaitable[None]] | None = None) -> None:
        """`gate`: awaited before each run of a job (Core's: a moment without customers' messages under way)."""
        self._gate = gate
        logging.getLogger("apscheduler.executors.default").addFilter(_CANCELLED_BY_THE_SHUTDOWN)  # once, however many
        self._scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        self._stopping = False
        self._periodic = 0  # jobs added by `every`, for their phases

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        """Every `seconds`, first a moment after the start, at a phase of its own (STAGGER_SECONDS)."""
        self._periodic += 1
        first = (self._periodic * STAGGER_SECONDS) % seconds or seconds
        start = datetime.now(UTC) + timedelta(seconds=first)
        self._scheduler.add_job(
            _guarded(job, name, self._gate), IntervalTrigger(seconds=seconds, start_date=start), id=name, name=name
        )

    def cron(self, expression: str, timezone: tzinfo, job: Callable[[], Awaitable[object]], name: str) -> None:
        """At the moments of a crontab line (read as cron reads it: Sunday is 0 and 7)."""
        self._scheduler.add_job(
            _guarded(job, name, self._gate),
            crontab.trigger(expression, timezone),
            id=name,
            name=name,
            replace_existing=True,
        )

    def remove_group(self, prefix: str) -> None:
        """Remove every job whose name starts with `prefix` (a group to lay out again, e.g. after a campaign edit)."""
        for job in self._scheduler.get_jobs():
            if job.id.startswith(prefix):
                job.remove()

    def daily(self, hhmm: str, timezone: tzinfo, job: Callable[[], Awaitable[object]], name: str) -> None:
        hour, minute = hhmm.split(":")
        trigger = CronTrigger(hour=int(hour), minute=int(minute), timezone=timezone)
        self._scheduler.add_job(_guarded(job, name, self._gate), trigger, id=name, name=name, replace_existing=True)

    def once_now(self, job: Callable[[], Awaitable[object]], name: str) -> None:
        """Right after start (catching up what was missed while the service was down)."""
        self._scheduler.add_job(_guarded(job, name, self._gate), id=name, name=name, replace_existing=True)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        # AsyncIOScheduler shuts down on the loop's next turn and stays `running` until then: a second call
        # before that turn (the server's lifespan, then Core.close) logged a SchedulerNotRunningError traceback.
        if self._scheduler.running and not self._stopping:
            self._stopping = True
            self._scheduler.shutdown(wait=False)


def _guarded(
    job: Callable[[], Awaitable[object]], name: str, gate: Callable[[], Awaitable[None]] | None
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            if gate is not None:
                await gate()
            await job()
        except asyncio.CancelledError:
            # The scheduler shutting down cancels a job under way (its work is safe to redo: leases, marks). Told
            # apart from a failure: APScheduler would log the cancellation as an ERROR with a traceback.
            log.debug("scheduled job %s stopped by the shutdown", name)
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next tick", name)

    return run
