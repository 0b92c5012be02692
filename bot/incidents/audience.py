"""Who an incident affects: a condition over the customer (tiers, tags, the campaigns' `when`) and, optionally, an
event they had in a time window with a condition over its data ("orders shipped from Leeds between 1 and 3 December").

Everyone who matches is affected, whether or not they can be messaged (the report counts them all); who is told is
decided when each notice is delivered (bot/incidents/notices.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import templating
from bot.customers.models import Customer, CustomerEvent
from bot.customers.tiers import condition_view

CHUNK = 2000


def _one_or_many(value: object) -> object:
    return (value,) if isinstance(value, str) else value


def _compiles(value: str | None) -> str | None:
    """A condition that compiles (a syntax error is refused when the incident opens, not at every complaint)."""
    problem = templating.check_expression(value) if value else None
    if problem:
        raise ValueError(problem)
    return value


class EventWindow(BaseModel):
    """Customers with an event of this name in [since, until], whose data passes `where` (a condition over `event`:
    its `name`, `data` and `occurred_at`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=64)
    # A date (the whole day, in the business's time zone) or a moment with its offset; empty: no bound.
    since: datetime | date | None = None
    until: datetime | date | None = None
    where: str | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _day_or_moment(cls, value: object) -> object:
        """ "2026-03-01" is that whole day; a value with a time is that moment."""
        if isinstance(value, str) and len(value.strip()) == 10:
            return date.fromisoformat(value.strip())
        return value

    _where = field_validator("where")(_compiles)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """The window in UTC: a date `since` from its first moment, a date `until` to its last."""
        return _moment(self.since, zone, start=True), _moment(self.until, zone, start=False)


class AudienceSpec(BaseModel):
    """The affected customers: all of these must hold (none given: refused, an incident is never about everyone by
    accident; `all: true` says it is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tiers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # As a campaign's `when`: a condition over `customer` (attributes, tags, tier, tenure_days, ...).
    when: str | None = None
    event: EventWindow | None = None
    everyone: bool = Field(False, alias="all")

    _many = field_validator("tiers", "tags", mode="before")(_one_or_many)

    _when = field_validator("when")(_compiles)

    @model_validator(mode="after")
    def _narrowed(self) -> AudienceSpec:
        if not self.everyone and not (self.tiers or self.tags or self.when or self.event):
            raise ValueError("say who is affected: tiers, tags, when or event (or all: true for every customer)")
        return self

    def as_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    def summary(self) -> str:
        parts = [f"tiers {', '.join(self.tiers)}"] if self.tiers else []
        if self.tags:
            parts.append(f"tagged {', '.join(self.tags)}")
        if self.when:
            parts.append(f"when {self.when}")
        if self.event:
            window = " ".join(f"{word} {value}" for word, value in (("from", self.event.since),
                                                                    ("until", self.event.until)) if value)  # fmt: skip
            where = f" where {self.event.where}" if self.event.where else ""
            parts.append(f"had {self.event.name} {window}{where}".replace("  ", " ").rstrip())
        return "; ".join(parts) or "every customer"


def _moment(value: datetime | date | None, zone: ZoneInfo, *, start: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(value, time.min if start else time.max, tzinfo=zone).astimezone(UTC)


async def matching(
    session: AsyncSession, spec: AudienceSpec, now: datetime, zone: ZoneInfo, only: Iterable[int] | None = None
) -> list[int]:
    """The ids of the customers `spec` affects (among `only`, when given), in id order."""
    restrict = set(only) if only is not None else None
    with_event = await _had_event(session, spec.event, zone, restrict) if spec.event else None
    if with_event is not None:
        restrict = with_event if restrict is None else restrict & with_event
    found: list[int] = []
    async for rows in _chunks(session, spec, sorted(restrict) if restrict is not None else None):
        found += [c.id for c in rows if _customer_matches(spec, c, now, zone)]
    return found


async def _chunks(session: AsyncSession, spec: AudienceSpec, ids: list[int] | None) -> AsyncIterator[list[Any]]:
    """The customers of the spec's tiers, a chunk at a time: among `ids`, or all of them by id."""
    # Plain rows, not ORM objects: a big audience fills no session (the caller's may be a conversation's turn).
    base = select(*Customer.__table__.c).order_by(Customer.id)
    if spec.tiers:
        base = base.where(Customer.tier.in_(spec.tiers))
    if ids is not None:
        for start in range(0, len(ids), CHUNK):
            yield list(await session.execute(base.where(Customer.id.in_(ids[start : start + CHUNK]))))
        return
    after = 0
    while rows := list(await session.execute(base.where(Customer.id > after).limit(CHUNK))):
        yield rows
        after = rows[-1].id


def _customer_matches(spec: AudienceSpec, customer: Any, now: datetime, zone: ZoneInfo) -> bool:
    if spec.tags and not set(spec.tags) <= set(customer.tags or ()):
        return False
    return spec.when is None or templating.evaluate(spec.when, {"customer": condition_view(customer, now, zone)})


async def _had_event(session: AsyncSession, window: EventWindow, zone: ZoneInfo, only: set[int] | None) -> set[int]:
    since, until = window.bounds(zone)
    query = select(CustomerEvent.customer_id, CustomerEvent.data, CustomerEvent.occurred_at).where(
        CustomerEvent.name == window.name
    )
    if since is not None:
        query = query.where(CustomerEvent.occurred_at >= since)
    if until is not None:
        query = query.where(CustomerEvent.occurred_at <= until)
    if only is not None:
        query = query.where(CustomerEvent.customer_id.in_(sorted(only)))
    found: set[int] = set()
    for customer_id, data, occurred_at in await session.execute(query):
        if customer_id in found:
            continue
        event = {"name": window.name, "data": data or {}, "occurred_at": occurred_at.isoformat()}
        if window.where is None or templating.evaluate(window.where, {"event": event}):
            found.add(customer_id)
    return found
