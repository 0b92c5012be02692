"""Reading a customer's transcript (the web chat shows it and picks up proactive messages from it)."""

from __future__ import annotations

from sqlalchemy import select

from bot.conversations.models import Message
from bot.customers.models import ChannelIdentity
from bot.messages import ChannelRef
from bot.storage.database import Database


async def messages_after(db: Database, ref: ChannelRef, after_id: int, limit: int = 100) -> list[Message]:
    async with db.sessions() as session:
        customer_id = (
            await session.execute(
                select(ChannelIdentity.customer_id).where(
                    ChannelIdentity.channel == ref.channel, ChannelIdentity.address == ref.address
                )
            )
        ).scalar_one_or_none()
        if customer_id is None:
            return []
        query = (
            select(Message)
            .where(Message.customer_id == customer_id, Message.id > after_id)
            .order_by(Message.id)
            .limit(limit)
        )
        return list((await session.execute(query)).scalars())
