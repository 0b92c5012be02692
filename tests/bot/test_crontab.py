"""Campaign schedules are read as cron reads them, including the night the clocks go back."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot import crontab

NEW_YORK = ZoneInfo("America/New_York")  # clocks go back from 02:00 EDT to 01:00 EST on 2026-11-01


def runs(expression: str, after: datetime, count: int) -> list[str]:
    out = []
    for _ in range(count):
        found = crontab.next_after(expression, NEW_YORK, after)
        assert found is not None
        out.append(found.astimezone(UTC).strftime("%m-%d %H:%M"))
        after = found
    return out


def test_a_daily_time_in_the_repeated_hour_runs_once_that_night() -> None:
    start = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    assert runs("30 1 * * *", start, 3) == ["11-01 05:30", "11-02 06:30", "11-03 06:30"]


def test_an_every_half_hour_line_keeps_running_through_both_passes_of_the_hour() -> None:
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert runs("*/30 * * * *", start, 6) == ["11-01 04:30", "11-01 05:00", "11-01 05:30", "11-01 06:00",
                                              "11-01 06:30", "11-01 07:00"]  # fmt: skip


def test_missed_runs_across_the_change_coalesce_to_the_latest_without_spinning() -> None:
    started = time.monotonic()
    latest = crontab.latest_between(
        "0 12 * * *", NEW_YORK, datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC)
    )
    assert latest == datetime(2026, 11, 3, 17, 0, tzinfo=UTC)  # 12:00 EST
    assert time.monotonic() - started < 0.5


def test_weekday_numbers_count_from_sunday() -> None:
    friday = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert crontab.next_after("0 10 * * 0", NEW_YORK, friday).strftime("%a") == "Sun"  # type: ignore[union-attr]
    assert crontab.next_after("0 10 * * 7", NEW_YORK, friday).strftime("%a") == "Sun"  # type: ignore[union-attr]
    assert crontab.next_after("0 10 * * 1", NEW_YORK, friday).strftime("%a") == "Mon"  # type: ignore[union-attr]
    assert crontab.cron_problem("0 10 * * 8") is not None
