"""A customer's transcript: what was said both ways (the web chat shows it and polls it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations.models import Message
from bot.customers.models import ChannelIdentity
from bot.messages import ChannelRef, Reply, reply_to_dict
from bot.storage.database import Database


async def record_outbound(
    session: AsyncSession, customer_id: int, channel: str, replies: Sequence[Reply], now: datetime
) -> None:
    for reply in replies:
        session.add(Message(
            customer_id=customer_id, direction="out", channel=channel, text=reply.text,
            payload=reply_to_dict(reply), created_at=now,
        ))  # fmt: skip
    await session.flush()


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
