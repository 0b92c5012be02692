"""The scheduler's jobs: a job under way when the service stops is stopped quietly, a failing one is logged, and a
job waits (a bounded while) for a moment without customers' messages under way."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from bot.inflight import InFlight
from bot.outreach.scheduler import Scheduler


async def test_a_job_under_way_at_shutdown_stops_without_an_error_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    running = asyncio.Event()

    async def long_dispatch() -> None:
        running.set()
        await asyncio.Event().wait()  # a drain still sending when the service stops

    scheduler = Scheduler()
    scheduler.once_now(long_dispatch, "outbox-dispatch")
    with caplog.at_level(logging.DEBUG):
        scheduler.start()
        await asyncio.wait_for(running.wait(), timeout=10)
        scheduler.shutdown()
        for _ in range(3):  # the shutdown, then the cancelled job's callbacks, each on a later turn of the loop
            await asyncio.sleep(0)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "scheduled job outbox-dispatch stopped by the shutdown" in caplog.text


async def test_a_job_due_as_the_service_stops_is_dropped_without_an_error_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Started on the very turn of the loop the shutdown comes, a job is cancelled before its first step: before the
    guard around it runs. APScheduler logged that as an ERROR with a traceback ("Error running job")."""
    ran: list[str] = []

    async def dispatch() -> None:
        ran.append("dispatch")

    scheduler = Scheduler()
    scheduler.once_now(dispatch, "outbox-dispatch")
    with caplog.at_level(logging.DEBUG):
        scheduler.start()  # the job is handed to the executor on the loop's next turn, and the shutdown right after
        scheduler.shutdown()
        for _ in range(5):
            await asyncio.sleep(0)
    assert ran == []  # it never started: this is the case above, a turn earlier
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "Traceback" not in caplog.text and "CancelledError" not in caplog.text


async def test_a_failing_job_is_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    failed = asyncio.Event()

    async def broken() -> None:
        failed.set()
        raise RuntimeError("the database went away")

    scheduler = Scheduler()
    scheduler.once_now(broken, "tier-recompute")
    scheduler.start()
    try:
        await asyncio.wait_for(failed.wait(), timeout=10)
        await asyncio.sleep(0)
    finally:
        scheduler.shutdown()
    assert "scheduled job tier-recompute failed; it runs again at its next tick" in caplog.text


async def test_periodic_jobs_first_run_soon_after_the_start_each_at_a_moment_of_its_own() -> None:
    """Started together, the jobs ran back to back whenever their intervals met, holding up customers' messages;
    and a catch-up job first ran a whole interval after the start."""
    loop = asyncio.get_running_loop()
    first_runs: dict[str, float] = {}
    all_ran = asyncio.Event()

    def job(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            first_runs.setdefault(name, loop.time())
            if len(first_runs) == 3:
                all_ran.set()

        return run

    scheduler = Scheduler()
    for name, seconds in (("outbox-dispatch", 2), ("flow-publishes", 2), ("tier-catch-up", 30)):
        scheduler.every(seconds, job(name), name)
    started = loop.time()
    scheduler.start()
    try:
        await asyncio.wait_for(all_ran.wait(), timeout=5)
    finally:
        scheduler.shutdown()
    moments = sorted(first_runs.values())
    assert moments[-1] - started < 1.0  # not 30 s for the catch-up
    assert all(later - earlier >= 0.1 for earlier, later in itertools.pairwise(moments))


async def test_a_job_waits_for_a_moment_without_customers_messages_under_way() -> None:
    """Core's gate: a job due while a message is handled starts once it is done, not in the middle of it."""
    in_flight = InFlight()
    ran = asyncio.Event()

    async def dispatch() -> None:
        ran.set()

    at_the_gate = asyncio.Event()

    async def gate() -> None:
        at_the_gate.set()
        await in_flight.quiet(30)

    scheduler = Scheduler(gate=gate)
    with in_flight.hold():
        scheduler.once_now(dispatch, "outbox-dispatch")
        scheduler.start()
        await asyncio.wait_for(at_the_gate.wait(), timeout=10)
        for _ in range(20):  # many turns of the loop: it stays there
            await asyncio.sleep(0)
        assert not ran.is_set()
    await asyncio.wait_for(ran.wait(), timeout=10)
    scheduler.shutdown()


async def test_a_job_waits_no_longer_than_its_bound_when_messages_never_stop() -> None:
    in_flight = InFlight()
    loop = asyncio.get_running_loop()
    with in_flight.hold(), in_flight.hold():
        started = loop.time()
        await asyncio.wait_for(in_flight.quiet(0.05), timeout=10)
        assert loop.time() - started >= 0.05 and in_flight.busy
    assert not in_flight.busy
    await asyncio.wait_for(in_flight.quiet(30), timeout=1)  # nothing under way: at once
