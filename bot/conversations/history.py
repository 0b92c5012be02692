"""A chat's transcript as adapters read it (the web chat shows it and polls it): typed entries, one read each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.conversations.transcript import messages_after
from bot.messages import ChannelRef
from bot.storage.database import Database

PAGE = 100  # entries per read


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
    def __init__(self, db: Database):
        self.db = db

    async def after(self, ref: ChannelRef, after_id: int, limit: int = PAGE) -> list[TranscriptEntry]:
        """The chat's messages after `after_id`, oldest first; none when the chat is unknown."""
        rows = await messages_after(self.db, ref, after_id, limit)
        return [TranscriptEntry(m.id, m.direction, m.text, m.payload or {}, m.platform_message_id) for m in rows]

    async def exists(self, ref: ChannelRef) -> bool:
        """Whether the bot has a conversation with this chat (its transcript has a message)."""
        return bool(await messages_after(self.db, ref, 0, limit=1))
