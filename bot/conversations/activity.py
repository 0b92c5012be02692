"""Whether a customer is in the middle of a conversation right now (proactive work waits if so)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations.models import ACTIVE, ConversationRun
from bot.tickets.models import UNRESOLVED_STATUSES, Ticket
from bot.transcript import Message

# A message either way this recently, with a flow waiting for an answer, is a conversation in progress.
BUSY_WINDOW = timedelta(minutes=30)


async def mid_conversation(session: AsyncSession, customer_id: int, now: datetime) -> bool:
    """An unresolved ticket (a tip or an offer while their complaint is open would be tone-deaf), or a
    message either way in the last half hour with a flow waiting for an answer.

    A question left unanswered for days is not a conversation in progress: a proactive flow may set
    it aside (it is suspended and picked up again later), rather than wait behind it for ever.
    """
    ticket = select(Ticket.id).where(Ticket.customer_id == customer_id, Ticket.status.in_(UNRESOLVED_STATUSES))
    if (await session.execute(ticket.limit(1))).first() is not None:
        return True
    recent = select(Message.id).where(Message.customer_id == customer_id, Message.created_at >= now - BUSY_WINDOW)
    if (await session.execute(recent.limit(1))).first() is None:
        return False
    active = select(ConversationRun.id).where(
        ConversationRun.customer_id == customer_id, ConversationRun.status == ACTIVE
    )
    return (await session.execute(active.limit(1))).first() is not None
