"""Customer tiers from the rules in config.yaml (tiers.rules): recomputed daily and after imports.

How rules read (docs/operations.md, "Tiers"):
- The first rule that matches a customer gives its tier; no rule matching gives `tiers.default`.
- `top_percent: P` ranks all customers (not only those earlier rules left over) by the numeric
  attribute `by`. A customer is in the top P% when fewer than ceil(N * P / 100) customers have a
  higher value, so customers tied at the boundary are all in: equal value, equal tier. Missing,
  non-numeric and non-positive values rank as 0 and are never top; so do values stored before the
  input limits that are not usable numbers (huge, NaN: amounts.usable_float), logged once per recompute.
- `top_percent` and `when` in one rule: both must hold (of the top P%, those the condition fits).
- A condition that fails for a customer (e.g. comparing a missing value) does not match it; each
  failing rule is logged once per recompute with how many customers it failed for.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Undefined
from sqlalchemy import Row, Text, case, cast, null, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot import templating
from bot.config import TierRule, TierSettings
from bot.customers import amounts
from bot.customers.models import Customer
from bot.customers.profile import quoted
from bot.customers.records import template_view

log = logging.getLogger(__name__)

# Customers per SELECT: bounded memory, few round trips, and the event loop is free again between
# chunks (one chunk of rule evaluation takes about 0.1 s).
READ_CHUNK = 2000
# A json document PostgreSQL cannot decode: an escaped NUL or surrogate (a lone one fails; pairs are rare and merely
# take the slow way). Any json operator on such a document fails the whole query, so those are read whole instead.
UNDECODABLE = r"\\u(0000|[dD][89abAB])"
WRITE_CHUNK = 1000  # ids per UPDATE ... WHERE id IN (...): well under SQLite's and asyncpg's parameter limits

# What template_view and the condition context read; the plain tier-by-value case needs none of it.
CONDITION_COLUMNS = (
    Customer.display_name, Customer.language, Customer.timezone, Customer.email, Customer.phone,
    Customer.attributes, Customer.tags, Customer.subscribed, Customer.created_at, Customer.last_seen_at,
    Customer.last_active_at,
)  # fmt: skip


@dataclass
class Reassignment:
    """What one recompute did: customers per tier now, and who moved from which tier to which."""

    counts: dict[str, int]
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Per rule index: how many customers its condition failed for.
    failures: dict[int, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(self.moves.values())


async def recompute(session: AsyncSession, tiers: TierSettings, zone: ZoneInfo, now: datetime) -> dict[str, int]:
    """Assign every customer its tier; returns how many customers each tier has now."""
    return (await reassign(session, tiers, zone, now)).counts


async def reassign(session: AsyncSession, tiers: TierSettings, zone: ZoneInfo, now: datetime) -> Reassignment:
    """Apply the tier rules to every customer, writing only those whose tier changes. Conditions read dates
    stored without a time zone (customer_since) in `zone`, the business's."""
    rules = [_Rule.of(i, rule) for i, rule in enumerate(tiers.rules)]
    await session.flush()  # customers added in this session (an import) are ranked too
    connection = await session.connection()  # Core rows: no ORM bookkeeping for 100,000 customers
    readers = await _rank(connection, rules)
    with_conditions = any(r.condition is not None for r in rules)
    columns = [Customer.tier, *(c for r in readers for c in r.columns), *(CONDITION_COLUMNS if with_conditions else ())]
    default = tiers.default
    result = Reassignment(counts={tier: 0 for tier in (default, *(r.tier for r in rules))})
    moving: dict[str, list[int]] = {}
    async for chunk in _chunks(connection, *columns):
        for row in chunk:
            context = _Context(row, now, zone) if with_conditions else None
            tier = next((r.tier for r in rules if r.matches(row, context)), default)
            result.counts[tier] += 1
            if tier != row.tier:
                moving.setdefault(tier, []).append(row.id)
                result.moves[(row.tier, tier)] += 1
    # Written last, so changed rows are locked only from here to the caller's commit (chat messages
    # of those customers wait on the lock), not for the whole computation.
    await _write(connection, moving, now)
    result.failures = {r.index: r.failed for r in rules if r.failed}
    _log(result, rules)
    return result


async def best(
    session: AsyncSession, count: int, by: str = "lifetime_value"
) -> tuple[int, int, list[tuple[Customer, float]]]:
    """How many customers there are, how many have a positive `by`, and the `count` with the highest (highest
    first)."""
    connection = await session.connection()
    reader = _ValueReader.of(by, 0, connection.dialect.name)
    unusable = _Unusable(by)
    scored = [(unusable.value(reader, row), row.id) async for chunk in _chunks(connection, *reader.columns)
              for row in chunk]  # fmt: skip
    unusable.log()
    valued = [(-value, id_) for value, id_ in scored if value > 0]
    top = heapq.nsmallest(count, valued)  # equal values: oldest first
    rows = await session.execute(select(Customer).where(Customer.id.in_([id_ for _, id_ in top])))
    found = {c.id: c for c in rows.scalars()}
    return len(scored), len(valued), [(found[id_], -negated) for negated, id_ in top if id_ in found]


def number(value: object) -> float | None:
    """A numeric attribute as a float: numbers and numeric text (CSV imports); not booleans, words, NaN or values
    beyond amounts.MAX_SIZE (stored before the input limits): those are no value. Never slow, whatever the size."""
    return amounts.usable_float(value)


def top_cutoff(values: Sequence[float], percent: float) -> float:
    """The lowest value still in the top `percent` of `values` (ties with it are in too); inf: nobody."""
    # round(): 100 * 7 / 100 must be 7, not 7.000000000000001 (which would let an eighth customer in).
    places = math.ceil(round(len(values) * percent / 100, 9))
    best = heapq.nlargest(places, (v for v in values if v > 0))
    return best[-1] if best else math.inf


def condition_view(customer: Any, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """The customer as conditions see it: the flow template view plus tenure_days, days_inactive and
    lifetime_value. `customer` is a Customer or a row with the same column names."""
    view = template_view(customer)
    attributes = view["attributes"]  # cleaned there
    view.update(
        tenure_days=tenure_days(attributes, customer.created_at, now, zone),
        days_inactive=days_inactive(customer, now),
        lifetime_value=number(attributes.get("lifetime_value")) or 0.0,
    )
    return view


def tenure_days(attributes: dict[str, Any], created_at: datetime, now: datetime, zone: ZoneInfo) -> int:
    """Whole days a customer has been one: since `customer_since` (from imports) when it is a valid
    date, read as the start of that day in the business time zone; else since created_at."""
    return max(0, (now - (_moment(attributes.get("customer_since"), zone) or created_at)).days)


def days_inactive(customer: Any, now: datetime) -> int:
    """Whole days since the last sign of life: any activity, else the last chat message, else creation."""
    return max(0, (now - (customer.last_active_at or customer.last_seen_at or customer.created_at)).days)


def _moment(raw: object, zone: ZoneInfo) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


class _Context:
    """The condition context of one customer, built when the first rule with a condition is reached."""

    def __init__(self, row: Row[Any], now: datetime, zone: ZoneInfo):
        self.row, self.now, self.zone = row, now, zone
        self._value: dict[str, Any] | None = None

    def value(self) -> dict[str, Any]:
        if self._value is None:
            self._value = {"customer": condition_view(self.row, self.now, self.zone)}
        return self._value


@dataclass
class _Rule:
    index: int
    tier: str
    by: str
    percent: float | None
    source: str | None
    condition: Callable[..., Any] | None
    cutoff: float = math.inf
    reader: _ValueReader | None = None
    failed: int = 0
    first_failure: tuple[int, str] = (0, "")

    @classmethod
    def of(cls, index: int, rule: TierRule) -> _Rule:
        # Not templating.evaluate(): it logs each failure, which would be one traceback per customer.
        condition = templating._expression(rule.when) if rule.when is not None else None
        return cls(index, rule.tier, rule.by, rule.top_percent, rule.when, condition)

    def matches(self, row: Row[Any], context: _Context | None) -> bool:
        if self.reader is not None and not self.reader.value(row) >= self.cutoff:
            return False
        if self.condition is None:
            return True
        assert context is not None  # built whenever any rule has a condition
        try:
            result = self.condition(context.value())
        except Exception as exc:
            if not self.failed:
                self.first_failure = (row.id, f"{type(exc).__name__}: {exc}")
            self.failed += 1
            return False
        return bool(result) and not isinstance(result, Undefined)


@dataclass(frozen=True)
class _ValueReader:
    """Reads the attribute `by` of each customer as a number (0 when missing or not a usable number)."""

    by: str
    columns: tuple[Any, ...]
    name: str
    element: str | None  # None: the first column is the element itself
    whole: str | None = None  # PostgreSQL: the column with the whole document, when the element could not be read

    @classmethod
    def of(cls, by: str, index: int, dialect: str) -> _ValueReader:
        name = f"by_{index}"
        if dialect == "postgresql":  # only the element, extracted as text (->>): no JSON document to decode...
            undecodable = cast(Customer.attributes, Text).regexp_match(UNDECODABLE)
            element = case((undecodable, null()), else_=Customer.attributes[by].as_string()).label(name)
            # ...except where PostgreSQL cannot decode it: that document comes whole and Python decodes it.
            whole = case((undecodable, Customer.attributes), else_=null()).label(f"{name}_whole")
            return cls(by, (element, whole), name, None, whole.name)
        # SQLite's JSON extraction turns `true` into 1, so the document is read and the element taken here.
        return cls(by, (Customer.attributes.label(name),), name, by)

    def raw(self, row: Row[Any]) -> Any:
        mapping = row._mapping
        if self.whole is not None and mapping[self.whole] is not None:
            document = mapping[self.whole]
            return document.get(self.by) if isinstance(document, dict) else None
        raw = mapping[self.name]
        if self.element is not None:
            raw = raw.get(self.element) if isinstance(raw, dict) else None
        return raw

    def value(self, row: Row[Any]) -> float:
        return number(self.raw(row)) or 0.0


@dataclass
class _Unusable:
    """Customers whose `by` is there but is no usable number: counted, and logged in one line."""

    by: str
    count: int = 0
    first: tuple[int, Any] = (0, None)

    def value(self, reader: _ValueReader, row: Row[Any]) -> float:
        raw = reader.raw(row)
        value = number(raw)
        if value is None and raw is not None:
            if not self.count:
                self.first = (row.id, raw)
            self.count += 1
        return value or 0.0

    def log(self) -> None:
        if self.count:
            log.warning("tiers: %s of %d customers is not a usable number (out of range, NaN or not a number), so "
                        "they rank as 0; the first, customer #%d: %s", self.by, self.count, self.first[0],
                        quoted(self.first[1]))  # fmt: skip


async def _rank(connection: AsyncConnection, rules: list[_Rule]) -> list[_ValueReader]:
    """Set each top_percent rule's cutoff, reading every customer's value once per attribute ranked by."""
    ranked_by = sorted({r.by for r in rules if r.percent is not None})
    readers = [_ValueReader.of(by, i, connection.dialect.name) for i, by in enumerate(ranked_by)]
    for reader in readers:
        unusable = _Unusable(reader.by)
        values = [unusable.value(reader, row) async for chunk in _chunks(connection, *reader.columns) for row in chunk]
        unusable.log()
        for r in rules:
            if r.by == reader.by and r.percent is not None:
                r.cutoff, r.reader = top_cutoff(values, r.percent), reader
    return readers


def _log(result: Reassignment, rules: list[_Rule]) -> None:
    for r in rules:
        if r.failed:
            log.warning(
                "tier rule %d (%s): the condition %r failed for %d customers, who did not match it; "
                "the first, customer #%d: %s", r.index + 1, r.tier, r.source, r.failed, r.first_failure[0],
                r.first_failure[1],
            )  # fmt: skip
    moves = ", ".join(f"{old} -> {new} {n}" for (old, new), n in sorted(result.moves.items()))
    log.info("tiers: %d of %d customers changed tier%s", result.changed, sum(result.counts.values()),
             f" ({moves})" if moves else "")  # fmt: skip


async def _chunks(connection: AsyncConnection, *columns: Any) -> AsyncIterator[Sequence[Row[Any]]]:
    """All customers in id order, READ_CHUNK at a time (keyset paging: each query is cheap, however far in)."""
    last = 0
    while True:
        query = select(Customer.id, *columns).where(Customer.id > last).order_by(Customer.id).limit(READ_CHUNK)
        rows = (await connection.execute(query)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


async def _write(connection: AsyncConnection, moving: dict[str, list[int]], now: datetime) -> None:
    """Customer objects already loaded in the session keep their old tier until refreshed."""
    for tier, ids in moving.items():
        for start in range(0, len(ids), WRITE_CHUNK):
            chunk = ids[start : start + WRITE_CHUNK]
            await connection.execute(
                update(Customer).where(Customer.id.in_(chunk)).values(tier=tier, tier_updated_at=now)
            )
