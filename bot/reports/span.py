"""What a report is asked for: a date range in the business's time zone, a period to trend by, an optional tier; and
the SQL that buckets a moment into its local day, week or month on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Float, case, cast, func, literal, literal_column
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.base import UTCDateTime

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
# Where an all-time range starts when no --since is given (no business data is older).
EPOCH = date(2000, 1, 1)


@dataclass(frozen=True)
class ReportQuery:
    """One report's question. `since` and `until` are local dates, both included; None is open-ended."""

    since: date | None = None
    until: date | None = None
    by: Period = "week"
    tier: str | None = None

    def __post_init__(self) -> None:
        if self.by not in PERIODS:
            raise ValueError(f"unknown period {self.by!r}: use day, week or month")
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"--since {self.since} is after --until {self.until}")


@dataclass(frozen=True)
class Span:
    """A ReportQuery made concrete for one database: UTC bounds, and the dialect's local-date SQL."""

    query: ReportQuery
    zone: ZoneInfo
    dialect: str
    now: datetime

    @property
    def start(self) -> datetime:
        return local_midnight(self.query.since or EPOCH, self.zone)

    @property
    def end(self) -> datetime:
        """The first moment after the range: the local midnight after `until` (today when open-ended)."""
        until = self.query.until or self.now.astimezone(self.zone).date()
        return local_midnight(until + timedelta(days=1), self.zone)

    def within(self, column: Any) -> ColumnElement[bool]:
        """`column` falls in the range (a plain comparison, so an index on it serves)."""
        return (column >= moment(self.start)) & (column < moment(self.end))

    def bucket(self, column: Any, by: Period | None = None) -> ColumnElement[Any]:
        """The period `column` falls in, as a key to group and order by: on PostgreSQL the local start of the period
        (a timestamp: cheaper to compare than text), on SQLite its first day as 'YYYY-MM-DD'. `label` makes it text."""
        by = by or self.query.by
        if self.dialect == "postgresql":
            # Inlined, not bound: the same text wherever it appears, so PostgreSQL matches it to the GROUP BY.
            return func.date_trunc(literal_column(f"'{by}'"), func.timezone(literal_column(_quoted(self.zone.key)),
                                                                            column))  # fmt: skip
        local = func.datetime(column, self._sqlite_offset(column))
        if by == "day":
            return func.date(local)
        if by == "week":
            return func.date(local, "-6 days", "weekday 1")  # the Monday on or before
        return func.strftime("%Y-%m-01", local)

    def label(self, key: Any) -> ColumnElement[str]:
        """A bucket's key as 'YYYY-MM-DD' text, the first local day of the period."""
        return func.to_char(key, literal_column("'YYYY-MM-DD'")) if self.dialect == "postgresql" else key

    def plus_days(self, column: Any, days: int) -> ColumnElement[datetime]:
        """`column` plus whole days, comparable with the stored moments (an index on the other side still serves)."""
        if self.dialect == "postgresql":
            return column + literal_column(f"interval '{int(days)} days'")
        return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{int(days)} days")

    def days_between(self, earlier: Any, later: Any) -> ColumnElement[float]:
        """Days (with fractions) from `earlier` to `later`."""
        if self.dialect == "postgresql":
            return func.extract("epoch", later - earlier) / 86400.0
        return cast(func.julianday(later) - func.julianday(earlier), Float)

    def _sqlite_offset(self, column: Any) -> ColumnElement[str]:
        """SQLite has no time zones: the zone's UTC offset at `column`, as a datetime() modifier, from the offset
        changes (DST) between the range's start and end, newest first (most rows are recent)."""
        changes = offset_changes(self.zone, self.start - timedelta(days=1), self.end + timedelta(days=1))
        first_offset = changes[0][1]
        later = [(moment(at) <= column, literal(f"{minutes:+d} minutes")) for at, minutes in reversed(changes[1:])]
        if not later:
            return literal(f"{first_offset:+d} minutes")
        return case(*[(cond, value) for cond, value in later], else_=literal(f"{first_offset:+d} minutes"))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def moment(value: datetime) -> ColumnElement[datetime]:
    """A UTC moment bound as the columns store it (SQLite: naive text), so comparisons are like for like."""
    return literal(value, UTCDateTime())


@lru_cache(maxsize=64)
def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(from when, UTC offset in minutes)], the first from `start`: every change of offset up to `end`, found hour
    by hour is too slow over decades, so day by day, then narrowed to the minute."""
    start = max(start, datetime(1970, 1, 2, tzinfo=UTC))

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset() or timedelta(0)
        return int(delta.total_seconds() // 60)

    changes = [(start, offset(start))]
    day = start
    while day < end:
        nxt = min(day + timedelta(days=1), end)
        if offset(nxt) != changes[-1][1]:
            low, high = day, nxt
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if offset(mid) == changes[-1][1] else (low, mid)
            changes.append((high.replace(second=0, microsecond=0), offset(nxt)))
        day = nxt
    return changes


def period_start(day: date, by: Period) -> date:
    """The first day of the period holding `day` (Monday for weeks), as the SQL buckets it."""
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


def percent(part: int | float, whole: int | float) -> float | None:
    """Part of whole in %, one decimal; None when there is nothing to divide."""
    return round(100 * part / whole, 1) if whole else None


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)
