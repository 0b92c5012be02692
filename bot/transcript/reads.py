"""Reading the transcript back: a duplicate delivery, the latest lines, what the web chat has not shown yet."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.customers.models import ChannelIdentity
from bot.messages import ChannelRef
from bot.storage.database import Database
from bot.transcript.models import Message


async def already_stored(session: AsyncSession, channel: str, platform_message_id: str) -> bool:
    """Was this platform message stored before (a duplicate delivery)?"""
    query = select(Message.id).where(Message.channel == channel, Message.platform_message_id == platform_message_id)
    return (await session.execute(query)).first() is not None


async def latest(session: AsyncSession, customer_id: int, limit: int) -> list[Message]:
    """The customer's last `limit` messages either way, oldest first."""
    query = select(Message).where(Message.customer_id == customer_id).order_by(Message.id.desc()).limit(limit)
    return list(reversed((await session.execute(query)).scalars().all()))


async def messages_after(db: Database, ref: ChannelRef, after_id: int, limit: int = 100) -> list[Message]:
    """The messages of the customer reached at `ref` after message `after_id`, oldest first (the web chat's poll)."""
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
