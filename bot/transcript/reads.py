"""Reading the transcript back: a duplicate delivery, the latest lines, and a chat's transcript as adapters read it
(the web chat shows it and polls it): typed entries, one read each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.customers.models import ChannelIdentity
from bot.messages import ChannelRef
from bot.storage.database import Database
from bot.transcript.models import OUTBOUND, Message

PAGE = 100  # entries per read
_BUTTON_CANDIDATES = 20  # transcript rows that mention a button's value, read back to find it among their buttons


async def already_stored(session: AsyncSession, channel: str, platform_message_id: str) -> bool:
    """Was this platform message stored before (a duplicate delivery)?"""
    query = select(Message.id).where(Message.channel == channel, Message.platform_message_id == platform_message_id)
    return (await session.execute(query)).first() is not None


async def offered_button(session: AsyncSession, customer_id: int, value: str) -> dict[str, str] | None:
    """The button (label and value) with this value under the latest message to the customer that carried it, or
    None if none did. The JSON text narrows the rows down in SQL (the value in quotes, so a text that only mentions
    it escapes them); the match itself is on the buttons' values."""
    needle = json.dumps(value)
    query = (
        select(Message.payload)
        .where(
            Message.customer_id == customer_id,
            Message.direction == OUTBOUND,
            cast(Message.payload, Text).contains(needle, autoescape=True),
        )
        .order_by(Message.id.desc())
        .limit(_BUTTON_CANDIDATES)
    )
    for payload in (await session.execute(query)).scalars():
        listed = payload.get("buttons") if isinstance(payload, dict) else None
        for button in listed if isinstance(listed, list) else ():
            if isinstance(button, dict) and button.get("value") == value and isinstance(button.get("label"), str):
                return {"label": button["label"], "value": value}
    return None


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


@dataclass(frozen=True)
class TranscriptEntry:
    """One message either way. `payload` is what was stored with it: an outbound reply's buttons and media
    (messages.reply_to_dict), an inbound message's media."""

    id: int
    direction: str  # "in" or "out"
    text: str | None
    payload: dict[str, Any]
    platform_message_id: str | None  # the platform's id of an inbound message, if it had one


class Transcripts:
    """The core's read of a chat's transcript for adapters (core.transcripts)."""

    def __init__(self, db: Database):
        self.db = db

    async def after(self, ref: ChannelRef, after_id: int, limit: int = PAGE) -> list[TranscriptEntry]:
        """The chat's messages after `after_id`, oldest first; none when the chat is unknown."""
        rows = await messages_after(self.db, ref, after_id, limit)
        return [TranscriptEntry(m.id, m.direction, m.text, m.payload or {}, m.platform_message_id) for m in rows]

    async def exists(self, ref: ChannelRef) -> bool:
        """Whether the bot has a conversation with this chat (its transcript has a message)."""
        return bool(await messages_after(self.db, ref, 0, limit=1))
