"""What the delivery policy reads about customers (their chat, whether they are busy, the cap's count, their
first unsent send), for many customers in one statement.

Read after the customers' rows are locked, in a statement of its own: on PostgreSQL each statement of a
READ COMMITTED transaction sees what was committed before it began, so sends another instance recorded
for a customer while we waited for the lock are counted (the cap holds across instances).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.config import FrequencyCap
from bot.conversations.activity import BUSY_WINDOW
from bot.conversations.models import ACTIVE, ConversationRun
from bot.customers.models import ChannelIdentity, Customer
from bot.messages import ChannelRef
from bot.outbox.kinds import OutboxKind
from bot.outbox.models import LEASED, PENDING, OutboxItem
from bot.outreach.models import SENT, DeliveryDecision
from bot.tickets.models import UNRESOLVED_STATUSES, Ticket
from bot.transcript import Message


@dataclass(frozen=True)
class Facts:
    # Where proactive messages go: the channel they used last (None: they never wrote to the bot).
    ref: ChannelRef | None
    # An unresolved ticket, or a message either way in the last half hour with a flow waiting for an answer
    # (bot.conversations.activity.mid_conversation, for many customers at once).
    busy: bool
    # With a frequency cap: the oldest of the newest `max_messages` sends in the window, when they are that
    # many (held until it leaves the window); None while there is room.
    cap_oldest: datetime | None
    # Their first send not yet carried out, if any: a campaign message cleared after it waits for it (the
    # dispatcher's per-customer order), one with a lower id is in order already. Read here to save a round trip.
    first_unsent_send: int | None


def _query():  # type: ignore[no-untyped-def]
    identity, candidate = ChannelIdentity, aliased(ChannelIdentity)
    preferred = (
        select(candidate.id)
        .where(candidate.customer_id == Customer.id)
        # The channel they used last (bot.customers.records.preferred_ref).
        .order_by(candidate.last_used_at.desc().nulls_last(), candidate.id.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )
    open_ticket = exists().where(Ticket.customer_id == Customer.id, Ticket.status.in_(UNRESOLVED_STATUSES))
    recent = exists().where(Message.customer_id == Customer.id, Message.created_at >= bindparam("busy_since"))
    waiting = exists().where(ConversationRun.customer_id == Customer.id, ConversationRun.status == ACTIVE)
    cap_oldest = (
        select(DeliveryDecision.created_at)
        .where(
            DeliveryDecision.customer_id == Customer.id,
            DeliveryDecision.decision == SENT,
            DeliveryDecision.created_at > bindparam("cap_since"),
        )
        .order_by(DeliveryDecision.created_at.desc())
        .limit(1)
        .offset(bindparam("cap_nth"))
        .scalar_subquery()
    )
    first_unsent_send = (
        select(func.min(OutboxItem.id))
        .where(OutboxItem.customer_id == Customer.id, OutboxItem.kind == OutboxKind.SEND,
               OutboxItem.status.in_((PENDING, LEASED)))
        .scalar_subquery()
    )  # fmt: skip
    busy = or_(open_ticket, and_(recent, waiting))
    return (
        select(Customer.id, identity.channel, identity.address, busy, cap_oldest, first_unsent_send)
        .select_from(Customer)
        .outerjoin(identity, identity.id == preferred)
        .where(Customer.id.in_(bindparam("ids", expanding=True)))
    )


# Built once: it runs for every group of proactive rows, and building it cost about as much as running it.
_FACTS = _query()


async def read(
    session: AsyncSession, customer_ids: Collection[int], now: datetime, cap: FrequencyCap | None
) -> dict[int, Facts]:
    """Facts per customer id (customers that no longer exist are missing)."""
    if not customer_ids:
        return {}
    params = {
        "ids": list(customer_ids),
        "busy_since": now - BUSY_WINDOW,
        # Without a cap the column is read and ignored (one index probe per customer).
        "cap_since": now - timedelta(days=cap.window_days if cap else 0),
        "cap_nth": (cap.max_messages - 1) if cap else 0,
    }
    found: dict[int, Facts] = {}
    for customer_id, channel, address, busy, cap_oldest, first_unsent_send in await session.execute(_FACTS, params):
        ref = ChannelRef(channel, address) if channel is not None else None
        found[customer_id] = Facts(ref, bool(busy), cap_oldest if cap else None, first_unsent_send)
    return found
