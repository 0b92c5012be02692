"""Working-hours arithmetic: is someone at work now, and when is N working hours from now."""

from __future__ import annotations

from datetime import datetime, time, timedelta
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
    begin, end = _bounds(hours)
    remaining = amount
    cursor = start_at.astimezone(zone)
    for _ in range(3700):  # ten years of days: a bound against a calendar with no working days
        if WEEKDAYS[cursor.weekday()] in hours.days:
            day_start = datetime.combine(cursor.date(), begin, zone)
            day_end = datetime.combine(cursor.date(), end, zone)
            if cursor < day_start:
                cursor = day_start
            if cursor < day_end:
                available = day_end - cursor
                if remaining <= available:
                    return (cursor + remaining).astimezone(start_at.tzinfo)
                remaining -= available
        cursor = datetime.combine(cursor.date() + timedelta(days=1), time(0), zone)
    raise ValueError("working hours have no working days")


def describe(hours: WorkingHours | None) -> str:
    if hours is None:
        return "always"
    days = ",".join(d.capitalize() for d in hours.days)
    return f"{days} {hours.start}-{hours.end} {hours.timezone}"
