"""Working-hours arithmetic: is someone at work now, and when is N working hours from now."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import WEEKDAYS, WorkingHours


def _bounds(hours: WorkingHours) -> tuple[time, time]:
    start = time.fromisoformat(hours.start)
    end = time(23, 59, 59, 999999) if hours.end == "24:00" else time.fromisoformat(hours.end)
    return start, end


def is_working(hours: WorkingHours | None, moment: datetime) -> bool:
    if hours is None:
        return True
    local = moment.astimezone(ZoneInfo(hours.timezone))
    start, end = _bounds(hours)
    return WEEKDAYS[local.weekday()] in hours.days and start <= local.time() < end


def add_working_time(hours: WorkingHours, start_at: datetime, amount: timedelta) -> datetime:
    """The moment `amount` of working time after `start_at` (walks day by day; DST-safe)."""
    zone = ZoneInfo(hours.timezone)
    begin = time.fromisoformat(hours.start)
    remaining = amount
    cursor = start_at.astimezone(UTC)
    day = start_at.astimezone(zone).date()
    for _ in range(3700):  # ten years of days: a bound against a calendar with no working days
        if WEEKDAYS[day.weekday()] in hours.days:
            # The day's bounds as real (UTC) instants: aware datetimes sharing one tzinfo subtract as
            # wall-clock times, which counts an hour too many or too few on a day the clocks change.
            day_start = datetime.combine(day, begin, zone).astimezone(UTC)
            day_end = _day_end(hours, day, zone)
            cursor = max(cursor, day_start)
            if cursor < day_end:
                available = day_end - cursor
                if remaining <= available:
                    return (cursor + remaining).astimezone(start_at.tzinfo)
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("working hours have no working days")


def _day_end(hours: WorkingHours, day: date, zone: ZoneInfo) -> datetime:
    if hours.end == "24:00":  # midnight that ends the day, not 23:59:59.999999
        return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return datetime.combine(day, time.fromisoformat(hours.end), zone).astimezone(UTC)


def describe(hours: WorkingHours | None) -> str:
    if hours is None:
        return "always"
    days = ",".join(d.capitalize() for d in hours.days)
    return f"{days} {hours.start}-{hours.end} {hours.timezone}"
