"""Finding and creating customers by channel identity; consent and profile changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.customers import storable
from bot.customers.models import ChannelIdentity, Customer
from bot.messages import ChannelRef
from bot.storage import plain

# Built once: they run for every inbound message, where building a statement cost more than running it.
_BY_IDENTITY = (
    select(Customer)
    .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
    .where(ChannelIdentity.channel == bindparam("channel"), ChannelIdentity.address == bindparam("address"))
)
_BY_IDENTITY_LOCKED = _BY_IDENTITY.with_for_update(of=Customer)
# The sender of a message and when their chat was last used (bot/conversations/receive.py adds their active runs).
SENDER = _BY_IDENTITY_LOCKED.add_columns(ChannelIdentity.last_used_at)
_TOUCH_IDENTITY = (  # an UPDATE's parameters may not be named after its columns
    update(ChannelIdentity)
    .where(ChannelIdentity.channel == bindparam("in_channel"), ChannelIdentity.address == bindparam("at_address"))
    .values(last_used_at=bindparam("now"))
)


async def find_by_identity(session: AsyncSession, ref: ChannelRef, *, lock: bool = False) -> Customer | None:
    """The customer behind a chat; with `lock`, read and locked as `lock` does, in the same statement."""
    query = _BY_IDENTITY_LOCKED if lock else _BY_IDENTITY
    params = {"channel": ref.channel, "address": ref.address}
    return (await session.execute(query, params)).scalar_one_or_none()


async def create_with_identity(
    session: AsyncSession, ref: ChannelRef, now: datetime, *, display_name: str | None = None,
    language: str | None = None, tier: str = "standard",
) -> Customer:  # fmt: skip
    customer = new_customer(now, display_name=display_name, language=language, tier=tier)
    # Both rows straight (bot/storage/plain.py): through the ORM's flush they cost a new customer's first message
    # more than the rest of its turn.
    await plain.add_loaded(session, customer)
    identity = new_identity(ref, now)
    identity.customer_id = customer.id
    await plain.add_loaded(session, identity)
    return customer


def new_customer(now: datetime, *, display_name: str | None, language: str | None, tier: str) -> Customer:
    """A customer as first met (not stored yet)."""
    return Customer(
        display_name=display_name, language=language, created_at=now, last_seen_at=now, last_active_at=now,
        tier=tier, attributes={}, tags=[],
    )  # fmt: skip


def new_identity(ref: ChannelRef, now: datetime) -> ChannelIdentity:
    """A chat as first met (not stored yet; its customer_id is the caller's to set)."""
    return ChannelIdentity(channel=ref.channel, address=ref.address, created_at=now, last_used_at=now)


async def lock(session: AsyncSession, customer_id: int) -> Customer:
    """Re-read the customer with a row lock (PostgreSQL) so one customer's messages run one at a time."""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        # SQLite transactions begin IMMEDIATE: the whole database is already locked for us.
        customer = await session.get(Customer, customer_id)
        if customer is not None:
            return customer
    query = select(Customer).where(Customer.id == customer_id).with_for_update()
    return (await session.execute(query)).scalar_one()


# "Last seen" and "last used" are read in days (inactivity) or to tell channels apart (where to write first);
# refreshing them once a minute, not on every message, saves two UPDATEs per message in a conversation.
SEEN_PRECISION = timedelta(minutes=1)


async def find_sender(session: AsyncSession, ref: ChannelRef) -> tuple[Customer, datetime | None] | None:
    """The customer behind a chat, locked as `lock` does, and when the chat was last used: one statement."""
    row = (await session.execute(SENDER, {"channel": ref.channel, "address": ref.address})).one_or_none()
    return (row[0], row[1]) if row is not None else None


def is_stale(seen: datetime | None, now: datetime) -> bool:
    """Whether a last-seen time is worth writing again (see SEEN_PRECISION)."""
    return seen is None or not now - SEEN_PRECISION < seen <= now


async def touch_identity(session: AsyncSession, ref: ChannelRef, now: datetime, last_used: datetime | None) -> None:
    if is_stale(last_used, now):
        await session.execute(_TOUCH_IDENTITY, {"in_channel": ref.channel, "at_address": ref.address, "now": now})


async def preferred_ref(session: AsyncSession, customer_id: int) -> ChannelRef | None:
    """The channel the customer used last: where proactive messages go."""
    query = (
        select(ChannelIdentity)
        .where(ChannelIdentity.customer_id == customer_id)
        .order_by(ChannelIdentity.last_used_at.desc().nulls_last(), ChannelIdentity.id.desc())
        .limit(1)
    )
    identity = (await session.execute(query)).scalar_one_or_none()
    return ChannelRef(identity.channel, identity.address) if identity else None


def set_attribute(customer: Customer, name: str, value: Any) -> None:
    customer.attributes = {**(customer.attributes or {}), name: value}


def add_tag(customer: Customer, tag: str) -> None:
    if tag not in (customer.tags or []):
        customer.tags = [*(customer.tags or []), tag]


def remove_tag(customer: Customer, tag: str) -> None:
    customer.tags = [t for t in (customer.tags or []) if t != tag]


def template_view(customer: Customer) -> dict[str, Any]:
    """What flow texts can see of a customer (customer.name, customer.tier, customer.attributes...). Attributes
    stored before the input checks are cleaned (storable.cleaned): "pro\x00" is "pro" to a flow or a condition."""
    name = customer.display_name or ""
    return {
        "id": customer.id,
        "name": name,
        "first_name": name.split()[0] if name.split() else "",
        "tier": customer.tier,
        "language": customer.language,
        "timezone": customer.timezone,
        "email": customer.email,
        "phone": customer.phone,
        "attributes": storable.attributes_of(customer.attributes),
        "tags": list(customer.tags or []),
        "subscribed": customer.subscribed,
    }


async def mark_unreachable(session: AsyncSession, customer_id: int, now: datetime) -> None:
    """A channel refused the customer for good (registered with the outbox's deliveries when the core is assembled)."""
    customer = await session.get(Customer, customer_id)
    if customer is not None:
        customer.unreachable = True
        # Their check-ins, reminders and campaign messages would only be skipped one by one.
        await outbox.cancel_proactive(session, customer.id, now, "customer unreachable")
