"""Crontab lines for campaign schedules, read the way cron reads them.

APScheduler 3's `CronTrigger.from_crontab` counts weekdays from Monday = 0, unlike cron (Sunday = 0
or 7; apscheduler issues #286, #455, #1102, fixed only in 4.0). Numeric weekdays are translated to
day names before APScheduler sees them, so "0 10 * * 1" means Monday, as in every cron manual.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Enough for a minutely schedule over two months of downtime; beyond that we stop looking back.
_MAX_STEPS = 100_000


def _weekday_names(field: str) -> str:
    """Numeric weekdays (cron: 0 and 7 are Sunday) to names; numeric ranges are spelled out day by day."""
    parts: list[str] = []
    for part in field.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if match is None:
            parts.append(part)  # "*", "*/2", names like "mon-fri"
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        step = int(match.group(3)) if match.group(3) else 1
        if last > 7 or first > last or step < 1:
            raise ValueError(f"day of week {part!r} is out of range (0-7, 0 and 7 are Sunday)")
        parts.extend(_CRON_DAYS[n] for n in range(first, last + 1, step))
    return ",".join(dict.fromkeys(parts))


def trigger(expression: str, timezone: tzinfo) -> CronTrigger:
    """A CronTrigger for a five-field crontab line (minute hour day month weekday)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} needs five fields (minute hour day month weekday), e.g. '0 10 1 * *'")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_weekday_names(weekday), timezone=timezone
    )


def cron_problem(expression: str) -> str | None:
    try:
        trigger(expression, UTC)
    except ValueError as exc:
        return str(exc)
    return None


def _just_after(moment: datetime) -> datetime:
    """A microsecond later, counted in UTC: on a local time in the repeated autumn hour (fold=1),
    adding to the local time would drop the fold and step back an hour."""
    return moment.astimezone(UTC) + timedelta(microseconds=1)


def _second_pass(moment: datetime, timezone: tzinfo) -> bool:
    """A local time in the hour that repeats when clocks go back, on its second pass."""
    local = moment.astimezone(timezone)
    return local.fold == 1 and local.utcoffset() != local.replace(fold=0).utcoffset()


def _fire_times(expression: str, timezone: tzinfo, after: datetime) -> Iterator[datetime]:
    """Occurrences after `after`, in order. Like cron, a line with a fixed hour runs once when the
    clocks go back (not again in the repeated hour); a line for every hour runs in both passes."""
    cron = trigger(expression, timezone)
    fixed_hour = "*" not in expression.split()[1]
    current = cron.get_next_fire_time(None, _just_after(after))
    for _ in range(_MAX_STEPS):
        if current is None:
            return
        if not (fixed_hour and _second_pass(current, timezone)):
            yield current
        current = cron.get_next_fire_time(current, _just_after(current))


def next_after(expression: str, timezone: tzinfo, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`."""
    return next(_fire_times(expression, timezone, after), None)


def latest_between(expression: str, timezone: tzinfo, after: datetime | None, until: datetime) -> datetime | None:
    """The last occurrence in (after, until]: missed runs are coalesced into this one."""
    start = after if after is not None else until - timedelta(days=366)
    latest = None
    for moment in _fire_times(expression, timezone, start):
        if moment > until:
            break
        latest = moment
    return latest
