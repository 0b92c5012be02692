"""Scheduled planning after downtime: a missed daily tier recompute runs once, not once per missed day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core import Core
from tests.conftest import FixedClock


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


async def test_the_daily_tier_recompute_runs_once_a_day_and_once_after_downtime(core: Core, clock: FixedClock) -> None:
    jobs = core.planning
    assert await jobs.recompute_tiers() is not None  # never ran: runs at start
    assert await jobs.recompute_tiers() is None  # the catch-up tick finds it done
    clock.current = datetime(2026, 6, 2, 2, 59, tzinfo=UTC)  # before today's 03:00 (business zone UTC)
    assert await jobs.recompute_tiers() is None
    clock.current = datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    assert await jobs.recompute_tiers() is not None
    assert await jobs.last_tier_recompute() == clock.current

    clock.current = datetime(2026, 6, 5, 9, 0, tzinfo=UTC)  # three days down: three runs missed
    assert await jobs.recompute_tiers() is not None
    assert await jobs.recompute_tiers() is None
    assert await jobs.recompute_tiers(force=True) is not None  # `engagebot customers tiers --recompute`
