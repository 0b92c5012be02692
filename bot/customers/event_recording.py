"""Recording CRM events: create the customer when unknown, apply the event's effects, store it once per event_id,
and queue it in the outbox so the flows it triggers start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import TierSettings
from bot.customers import amounts, profile, storable
from bot.customers.event_effects import effects, warn_unusable
from bot.customers.event_parsing import CrmEvent, EventErrors
from bot.customers.kinds import CustomerKind
from bot.customers.models import ChannelIdentity, Customer, CustomerEvent
from bot.customers.profile import FieldError, ProfileChange
from bot.storage.dialects import insert_for

# An event that happened longer ago than this is recorded but starts no flow: a backfill of last
# year's signups must not welcome everyone today.
STALE_AFTER = timedelta(days=2)


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


class EventConflict(EventErrors):
    """Valid on its own, but at odds with what is stored (a chat id that is someone else's)."""


async def record(session: AsyncSession, tiers: TierSettings, event: CrmEvent, now: datetime) -> Outcome:
    """Apply one event. A repeated event_id changes nothing and comes back as a duplicate; an event_id that is
    already another customer's event comes back as a Conflict, and nothing is written for it. A customer it creates
    starts in the default tier."""
    if event.event_id is not None and (seen := await _recorded(session, event)) is not None:
        return seen
    owner = await _telegram_owner(session, event.telegram_chat_id)
    if owner is not None and owner[1] is None:
        await _adopt(session, owner[0], event.external_id)
    customer, created = await _customer(session, event.external_id, tiers.default, now)
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
        warn_unusable(customer.id, attributes)
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
    session: AsyncSession, tiers: TierSettings, batch: list[CrmEvent], now: datetime, *, indexed: bool
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
            results.append(await record(session, tiers, event, now))
        except EventErrors as exc:
            if not indexed:
                raise
            raise type(exc)([FieldError(f"[{i}].{e.field}", e.message) for e in exc.errors]) from None
    return results


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


async def _customer(session: AsyncSession, external_id: str, tier: str, now: datetime) -> tuple[Customer, bool]:
    """The customer with this external_id, locked for this transaction; created when unknown.
    INSERT ... ON CONFLICT: two first events of one new customer at once make one customer."""
    values = dict(external_id=external_id, tier=tier, attributes={}, tags=[], subscribed=True, unreachable=False,
                  created_at=now)  # fmt: skip
    stmt = insert_for(session)(Customer).values(**values).on_conflict_do_nothing(index_elements=["external_id"])
    created = bool((await session.execute(stmt.returning(Customer.id))).first())
    query = select(Customer).where(Customer.external_id == external_id).with_for_update()
    customer = (await session.execute(query.execution_options(populate_existing=True))).scalar_one()
    return customer, created


async def _insert_event(session: AsyncSession, customer_id: int, event: CrmEvent, occurred: datetime,
                        now: datetime) -> int:  # fmt: skip
    await session.flush()
    stmt = insert_for(session)(CustomerEvent).values(
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
