"""CRM events: what the business's own systems tell us about a customer (signed_up, purchased, ...).

Recording one creates the customer when unknown, updates their attributes (purchased adds to
lifetime_value and orders, ...), is idempotent by event_id, and queues the event in the outbox so
flows with an `event:` trigger start (signed_up starts onboarding) under the delivery policy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import Settings
from bot.customers import amounts, profile, storable
from bot.customers.kinds import CustomerKind
from bot.customers.models import ChannelIdentity, Customer, CustomerEvent
from bot.customers.profile import FieldError, ProfileChange
from bot.yamlsource import did_you_mean

log = logging.getLogger(__name__)

NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
CURRENCY = re.compile(r"[A-Za-z]{3}")
KNOWN = ("signed_up", "purchased", "activated", "cancelled")
# The bot's own events: a sender must not fake them (ticket_resolved without a ticket breaks its flow).
RESERVED = frozenset({"first_contact", "ticket_resolved"})
# An event that happened longer ago than this is recorded but starts no flow: a backfill of last
# year's signups must not welcome everyone today.
STALE_AFTER = timedelta(days=2)
MAX_BATCH = 1000
ATTRIBUTE_NUMBERS = f"is out of range: numbers in attributes must be finite and below 10^{amounts.SIZE_DIGITS} in size"
DATA_NUMBERS = f"cannot be stored: numbers must be finite, and integers at most {amounts.MAX_JSON_INT} digits long"
EVENT_KEYS = ("event", "customer", "data", "attributes", "event_id", "occurred_at")
CUSTOMER_KEYS = ("external_id", "name", "display_name", "email", "phone", "language", "timezone", "subscribed",
                 "attributes", "telegram_chat_id")  # fmt: skip


@dataclass(frozen=True)
class CrmEvent:
    name: str
    external_id: str
    profile: ProfileChange
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    occurred_at: datetime | None = None
    telegram_chat_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    id: int  # customer_events.id
    customer_id: int
    duplicate: bool = False
    customer_created: bool = False
    flows_queued: bool = False


@dataclass(frozen=True)
class Conflict:
    """Not recorded: its event_id is already another customer's event (a batch reports it and goes on)."""

    error: FieldError


Outcome = Recorded | Conflict


class EventErrors(ValueError):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class EventConflict(EventErrors):
    """Valid on its own, but at odds with what is stored (a chat id that is someone else's)."""


# ---- reading a JSON body ----------------------------------------------------------------------


def parse_body(body: Any, region: str) -> list[CrmEvent]:
    """One event object, or a list of up to MAX_BATCH. Raises EventErrors naming every bad field
    (as "customer.email", or "[3].customer.email" in a list); then nothing is recorded."""
    if isinstance(body, list):
        if not body:
            raise EventErrors([FieldError("body", "is an empty list; send one event or a list of events")])
        if len(body) > MAX_BATCH:
            raise EventErrors([FieldError("body", f"has {len(body)} events; send at most {MAX_BATCH} at a time")])
        items = [(f"[{i}].", item) for i, item in enumerate(body)]
    else:
        items = [("", body)]
    events: list[CrmEvent] = []
    errors: list[FieldError] = []
    for prefix, item in items:
        try:
            events.append(parse_event(item, region, prefix))
        except EventErrors as exc:
            errors += exc.errors
    if errors:
        raise EventErrors(errors)
    return events


def parse_event(raw: Any, region: str, prefix: str = "") -> CrmEvent:
    if not isinstance(raw, dict):
        raise EventErrors([FieldError(prefix.rstrip(".") or "body", "must be a JSON object (an event)")])
    # First, and alone: every other check would quote the same text back, and no database can store it.
    if unstorable := storable.text_problems(raw, prefix.rstrip(".")):
        raise EventErrors(unstorable)
    errors: list[FieldError] = []

    def bad(name: str, message: str) -> None:
        errors.append(FieldError(prefix + name, message))

    _unknown_keys(raw, EVENT_KEYS, "", bad)
    name = raw.get("event")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        bad("event", f"must be a name like {', '.join(KNOWN)} (a-z, 0-9, _; up to 64 characters, "
                     "starting with a letter)")  # fmt: skip
    elif name in RESERVED:
        bad("event", f'"{name}" is one of the bot\'s own events and cannot be sent')
    customer = raw.get("customer")
    ext, change, chat = "", ProfileChange(), None
    if not isinstance(customer, dict):
        bad("customer", 'must be an object with at least "external_id"')
    else:
        ext, change = _read_customer(customer, region, bad)
        if customer.get("telegram_chat_id") is not None:
            try:
                chat = profile.telegram_chat_id(customer["telegram_chat_id"])
            except ValueError as exc:
                bad("customer.telegram_chat_id", str(exc))
    data = raw.get("data", {})
    if not isinstance(data, dict):
        bad("data", "must be an object")
        data = {}
    else:
        if name == "purchased":
            _check_purchase(data, bad)
        details = {k: v for k, v in data.items() if not (name == "purchased" and k == "amount")}
        errors += storable.number_problems(details, prefix + "data", DATA_NUMBERS)
    change.attributes.update(_read_attributes(raw.get("attributes"), "attributes", bad))
    event_id = raw.get("event_id")
    if event_id is not None and (not isinstance(event_id, str | int) or isinstance(event_id, bool)
                                 or not 0 < len(str(event_id)) <= 200):  # fmt: skip
        bad("event_id", "must be a string of 1-200 characters (your id for this event, to make retries safe)")
    occurred = _read_moment(raw.get("occurred_at"), bad)
    if errors:
        raise EventErrors(errors)
    event_key = None if event_id is None else str(event_id)
    return CrmEvent(str(name), ext, change, dict(data), event_key, occurred, chat)


def _unknown_keys(raw: Mapping[str, Any], known: tuple[str, ...], where: str, bad: Any) -> None:
    for key in raw:
        if key not in known:
            bad(where + str(key), f"is not a field we know{did_you_mean(key, known)}; known: {', '.join(known)}")


def _read_customer(customer: dict[str, Any], region: str, bad: Any) -> tuple[str, ProfileChange]:
    _unknown_keys(customer, CUSTOMER_KEYS, "customer.", bad)
    ext = ""
    try:
        ext = profile.external_id(customer.get("external_id"), "customer.external_id")
    except FieldError as exc:
        bad(exc.field, exc.message)
    values = dict(customer)
    if "name" in values and "display_name" not in values:
        values["display_name"] = values["name"]
    names = {c: f"customer.{'name' if c == 'display_name' and 'name' in customer else c}"
             for c in profile.TEXT_COLUMNS}  # fmt: skip
    change, errors = profile.read_profile(values, region, names)
    for e in errors:
        bad(e.field, e.message)
    subscribed = customer.get("subscribed")
    if subscribed is not None and not isinstance(subscribed, bool):
        bad("customer.subscribed", "must be true or false")
    change.subscribed = subscribed if isinstance(subscribed, bool) else None
    change.attributes.update(_read_attributes(customer.get("attributes"), "customer.attributes", bad))
    return ext, change


def _read_attributes(raw: Any, where: str, bad: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        bad(where, "must be an object of attribute names and values (null removes one)")
        return {}
    values = dict(raw)
    for key, value in raw.items():
        if not ATTRIBUTE.fullmatch(key):
            bad(
                f"{where}.{key}",
                "is not an attribute name (letters, digits and _, up to 64, not starting with a digit)",
            )
        elif key in profile.TOTALS and value is not None:
            try:  # a purchase adds to these: numbers within the limits, numeric text read as the number
                values[key] = profile.number(value)
            except ValueError as exc:
                bad(f"{where}.{key}", str(exc))
        else:  # tier rules rank by attributes: numbers that a float holds
            for e in storable.number_problems(value, f"{where}.{key}", ATTRIBUTE_NUMBERS, below=amounts.MAX_SIZE):
                bad(e.field, e.message)
    return values


def _check_purchase(data: dict[str, Any], bad: Any) -> None:
    if "amount" not in data:
        bad("data.amount", "is required for purchased (the order's value, e.g. 49.90)")
    else:
        try:
            if profile.number(data["amount"]) < 0:
                bad("data.amount", "must not be negative (send a refund as its own event)")
        except ValueError as exc:
            bad("data.amount", str(exc))
    currency = data.get("currency")
    if currency is not None and not (isinstance(currency, str) and CURRENCY.fullmatch(currency)):
        bad("data.currency", "must be a three-letter currency code like EUR")


def _read_moment(raw: Any, bad: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str):
            raise ValueError
        moment = datetime.fromisoformat(raw)
    except ValueError:
        bad("occurred_at", "must be an ISO-8601 date and time like 2026-03-02T09:30:00Z")
        return None
    if moment.tzinfo is None:
        bad("occurred_at", "needs a UTC offset (Z or +01:00): without one the moment is ambiguous")
        return None
    return moment.astimezone(UTC)


# ---- recording --------------------------------------------------------------------------------


async def record(session: AsyncSession, settings: Settings, event: CrmEvent, now: datetime) -> Outcome:
    """Apply one event. A repeated event_id changes nothing and comes back as a duplicate; an event_id that is
    already another customer's event comes back as a Conflict, and nothing is written for it."""
    if event.event_id is not None and (seen := await _recorded(session, event)) is not None:
        return seen
    owner = await _telegram_owner(session, event.telegram_chat_id)
    if owner is not None and owner[1] is None:
        await _adopt(session, owner[0], event.external_id)
    customer, created = await _customer(session, event.external_id, settings.tiers.default, now)
    # Checked again under the customer's lock: a concurrent retry of this event has committed by now.
    if event.event_id is not None and (seen := await _recorded(session, event)) is not None:
        if isinstance(seen, Conflict):  # the customer may have just been created for it: undo all with the caller
            raise EventConflict([seen.error])
        return seen
    if event.telegram_chat_id is not None and owner is None:
        session.add(ChannelIdentity(customer_id=customer.id, channel=profile.TELEGRAM,
                                    address=event.telegram_chat_id, created_at=now))  # fmt: skip
    elif owner is not None and owner[0] != customer.id:
        taken = f"{event.telegram_chat_id} already belongs to customer #{owner[0]}"
        raise EventConflict([FieldError("customer.telegram_chat_id", taken)])
    occurred = min(event.occurred_at or now, now)
    stored = customer.attributes
    # Text stored before the checks (NUL, lone surrogates) is cleaned here and written back with this change.
    attributes = storable.attributes_of(stored)
    if event.name == "purchased":
        _warn_unusable(customer.id, attributes)
    try:
        patch = {**effects(event.name, event.data, attributes, occurred), **event.profile.attributes}
    except amounts.OutOfRange as exc:
        raise EventErrors([FieldError("data.amount", f"{profile.quoted(event.data['amount'])} {exc}")]) from None
    current = {c: getattr(customer, c) for c in (*profile.TEXT_COLUMNS, "subscribed", "opted_out_at")}
    change = ProfileChange(event.profile.columns, event.profile.subscribed, patch)
    applied = profile.apply({**current, "attributes": attributes}, change)
    if attributes != stored and "attributes" not in applied.changed:
        applied.changed["attributes"] = attributes
    for column, value in applied.changed.items():
        setattr(customer, column, value)
    if customer.last_active_at is None or customer.last_active_at < occurred:
        customer.last_active_at = occurred
    row_id = await _insert_event(session, customer.id, event, occurred, now)
    queued = occurred >= now - STALE_AFTER
    if queued:
        await outbox.enqueue(
            session, kind=CustomerKind.EVENT, dedupe_key=f"crm:{row_id}", due_at=now, customer_id=customer.id,
            payload={"event": event.name, "data": event.data, "interrupt": False}, proactive=True,
        )  # fmt: skip
    return Recorded(row_id, customer.id, customer_created=created, flows_queued=queued)


async def record_all(
    session: AsyncSession, settings: Settings, batch: list[CrmEvent], now: datetime, *, indexed: bool
) -> list[Outcome]:
    """Record events in order in the caller's transaction; EventErrors (a conflict over a chat id, a total out of
    range) rolls them all back with it. An event_id that is another customer's is a Conflict in the list, and the
    rest is recorded. `indexed`: an error names the event by its place in the list ("[3].customer...")."""
    if len(batch) > 1 and session.bind is not None and session.bind.dialect.name == "postgresql":
        # Lock the batch's known customers up front, in id order: two batches naming the same customers
        # in different orders would otherwise deadlock. (SQLite transactions hold the whole database.)
        external_ids = sorted({event.external_id for event in batch})
        query = select(Customer.id).where(Customer.external_id.in_(external_ids)).order_by(Customer.id)
        await session.execute(query.with_for_update())
    results = []
    for i, event in enumerate(batch):
        try:
            results.append(await record(session, settings, event, now))
        except EventErrors as exc:
            if not indexed:
                raise
            raise type(exc)([FieldError(f"[{i}].{e.field}", e.message) for e in exc.errors]) from None
    return results


def effects(name: str, data: Mapping[str, Any], attributes: Mapping[str, Any], when: datetime) -> dict[str, Any]:
    """The attributes a known event changes (custom events change none by themselves). A stored total that is not
    a usable number (amounts.usable) counts as 0; amounts.OutOfRange when a total would pass the limit."""
    stamp = when.isoformat()
    if name == "purchased":
        return {
            "lifetime_value": _add(attributes.get("lifetime_value"), amounts.parse(data["amount"])),
            "orders": _add(attributes.get("orders"), Decimal(1)),
            "last_purchase_at": _latest(attributes.get("last_purchase_at"), stamp),
        }
    if name == "signed_up":
        since = {} if attributes.get("customer_since") else {"customer_since": when.date().isoformat()}
        return {"signed_up_at": _latest(attributes.get("signed_up_at"), stamp), **since}
    if name in ("activated", "cancelled"):
        key = f"{name}_at"
        return {key: _latest(attributes.get(key), stamp)}
    return {}


def _add(total: Any, amount: Decimal) -> int | float:
    """A stored total plus an amount, in decimal arithmetic (19.99 + 5.01 is 25, not 25.000000000000004)."""
    return amounts.to_json(amounts.add(amounts.usable(total) or Decimal(0), amount))


def _warn_unusable(customer_id: int, attributes: Mapping[str, Any]) -> None:
    """One line for the totals a purchase cannot add to (stored before the limits: huge, NaN, a word)."""
    unusable = [f"{key} {profile.quoted(attributes[key])}" for key in profile.TOTALS
                if attributes.get(key) is not None and amounts.usable(attributes[key]) is None]  # fmt: skip
    if unusable:
        log.warning("customer #%d: the stored %s %s; this purchase counts from 0", customer_id, " and ".join(unusable),
                    "is not a usable number" if len(unusable) == 1 else "are not usable numbers")  # fmt: skip


def _latest(old: Any, new: str) -> str:
    """The later of two ISO moments: an old event arriving late does not move a date back."""
    try:
        return max(datetime.fromisoformat(old), datetime.fromisoformat(new)).isoformat()
    except (TypeError, ValueError):
        return new


async def _telegram_owner(session: AsyncSession, chat_id: str | None) -> tuple[int, str | None] | None:
    """(id, external_id) of the customer who has this Telegram chat, if anyone."""
    if chat_id is None:
        return None
    query = (
        select(Customer.id, Customer.external_id)
        .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
        .where(ChannelIdentity.channel == profile.TELEGRAM, ChannelIdentity.address == chat_id)
    )
    found = (await session.execute(query)).one_or_none()
    return (found.id, found.external_id) if found else None


async def _adopt(session: AsyncSession, customer_id: int, external_id: str) -> None:
    """A customer who wrote to the bot before the CRM knew them gets the CRM's id (one customer, not two),
    unless that id is already someone else's."""
    taken = select(Customer.id).where(Customer.external_id == external_id)
    if (await session.execute(taken)).first() is None:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer_id, Customer.external_id.is_(None))
            .values(external_id=external_id)
        )


async def _recorded(session: AsyncSession, event: CrmEvent) -> Outcome | None:
    """What became of an event with this event_id before: the same customer's (a retry, a duplicate), another
    customer's (a Conflict: an event_id names one event of one customer), or None when it is new."""
    query = (
        select(CustomerEvent.id, CustomerEvent.customer_id, Customer.external_id)
        .join(Customer, Customer.id == CustomerEvent.customer_id)
        .where(CustomerEvent.event_id == event.event_id)
    )
    found = (await session.execute(query)).one_or_none()
    if found is None:
        return None
    if found.external_id == event.external_id:
        return Recorded(found.id, found.customer_id, duplicate=True)
    owner = f"external_id {profile.quoted(found.external_id)}" if found.external_id else f"#{found.customer_id}"
    taken = f"{profile.quoted(event.event_id)} is already the id of an event of another customer ({owner})"
    return Conflict(FieldError("event_id", f"{taken}; send this event with an id of its own"))


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def _customer(session: AsyncSession, external_id: str, tier: str, now: datetime) -> tuple[Customer, bool]:
    """The customer with this external_id, locked for this transaction; created when unknown.
    INSERT ... ON CONFLICT: two first events of one new customer at once make one customer."""
    values = dict(external_id=external_id, tier=tier, attributes={}, tags=[], subscribed=True, unreachable=False,
                  created_at=now)  # fmt: skip
    stmt = _insert(session)(Customer).values(**values).on_conflict_do_nothing(index_elements=["external_id"])
    created = bool((await session.execute(stmt.returning(Customer.id))).first())
    query = select(Customer).where(Customer.external_id == external_id).with_for_update()
    customer = (await session.execute(query.execution_options(populate_existing=True))).scalar_one()
    return customer, created


async def _insert_event(session: AsyncSession, customer_id: int, event: CrmEvent, occurred: datetime,
                        now: datetime) -> int:  # fmt: skip
    await session.flush()
    stmt = _insert(session)(CustomerEvent).values(
        customer_id=customer_id, name=event.name, event_id=event.event_id, data=event.data, occurred_at=occurred,
        received_at=now,
    )  # fmt: skip
    row = (
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(CustomerEvent.id))
    ).first()
    if row is None:  # the same event_id arrived for another customer at this very moment
        raise EventConflict(
            [FieldError("event_id", f"{profile.quoted(event.event_id)} was just used for another event")]
        )
    return int(row.id)
