"""Protocols the core calls; adapters in handlers/ implement them. (The staff desk is the tickets feature's own port:
bot/tickets/staffdesk.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from bot.messages import ChannelRef, Reply


class Channel(Protocol):
    """Delivers replies to a customer on one platform. Raises on failure so the outbox retries.

    A channel whose customers read their messages from the transcript (the web chat, the terminal chat) sets
    `reads_transcript = True`: its send delivers nothing, so a row sent twice shows the customer nothing twice
    (`reads_transcript` below)."""

    name: str

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None: ...


def reads_transcript(channel: object) -> bool:
    """The channel's customers read the transcript, where every reply already is: sending is bookkeeping."""
    return bool(getattr(channel, "reads_transcript", False))


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class DeliveryError(Exception):
    """A send failed; `retry_after` (seconds) says when to try again, `permanent` that it never will work."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False, sent: int = 0,
        unreachable: bool = False,
    ):  # fmt: skip
        super().__init__(message)
        self.retry_after = retry_after
        # Never worth retrying (a refused message). `unreachable`: the customer cannot be reached at
        # all (they blocked us, the chat is gone), so proactive messages stop until they write again.
        self.permanent = permanent or unreachable
        self.unreachable = unreachable
        # How many of the replies were delivered before the failure (only the rest is retried).
        self.sent = sent
