"""The scheduler's jobs: a job under way when the service stops is stopped quietly, a failing one is logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

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
