"""The retention jobs: scheduled with the rest of the background work, each periodic one at its own interval, and
reading events once however often they run."""

from __future__ import annotations

from bot.core import Core
from tests.conftest import FixedClock


async def test_the_retention_jobs_run_in_the_background_with_the_rest(core: Core) -> None:
    await core.start_background()
    names = {job.name for job in core.scheduler._scheduler.get_jobs()}
    assert {"retention-events", "retention-crosssell", "retention-resurvey"} <= names


async def test_a_periodic_job_waits_for_its_interval_unless_forced(core: Core, clock: FixedClock) -> None:
    assert await core.retention.plan_resurvey() == 0  # the first run
    assert await core.retention.plan_resurvey() is None  # too soon (resurvey.check_every_minutes: 60)
    assert await core.retention.plan_resurvey(force=True) == 0
    clock.advance(minutes=61)
    assert await core.retention.plan_resurvey() == 0
    assert await core.retention.plan_crosssell() is None  # no rules: nothing to check


async def test_reading_the_events_twice_adds_nothing(core: Core) -> None:
    body = {"event": "cancelled", "event_id": "c-1", "customer": {"external_id": "C-1"}, "data": {"reason": "price"}}
    await core.customers.record_events(body)
    first = await core.retention.take_events()
    assert first["cancellations"] == 1
    again = await core.retention.take_events()
    assert again["cancellations"] == 0 and again["won_back"] == 0
