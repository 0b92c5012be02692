"""Sends replies to Telegram within its limits; failures become DeliveryError for the outbox."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta

from aiolimiter import AsyncLimiter
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.config import TelegramSettings
from bot.messages import ChannelRef, Reply
from bot.ports import DeliveryError
from handlers.telegram.convert import CHANNEL, keyboard_for, split_text

log = logging.getLogger(__name__)
MAX_TRACKED_CHATS = 10_000


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 deprecates the int form; both forms are handled
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramChannel:
    """The Channel port for Telegram: ordered per chat, 30/s overall, ~1/s per chat with short bursts."""

    name = CHANNEL

    def __init__(self, bot: Bot, settings: TelegramSettings):
        self.bot = bot
        self.settings = settings
        self._overall = AsyncLimiter(settings.max_per_second, 1)
        self._per_chat: OrderedDict[str, tuple[AsyncLimiter, asyncio.Lock]] = OrderedDict()

    def _chat(self, chat_id: str) -> tuple[AsyncLimiter, asyncio.Lock]:
        found = self._per_chat.get(chat_id)
        if found is None:
            burst = self.settings.chat_burst
            found = (AsyncLimiter(burst, burst / self.settings.max_per_chat_per_second), asyncio.Lock())
            self._per_chat[chat_id] = found
            while len(self._per_chat) > MAX_TRACKED_CHATS:
                oldest, (_, lock) = next(iter(self._per_chat.items()))
                if lock.locked():
                    break
                del self._per_chat[oldest]
        else:
            self._per_chat.move_to_end(chat_id)
        return found

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        """Send in order. On failure raises DeliveryError with `sent` = replies fully delivered."""
        limiter, lock = self._chat(ref.address)
        async with lock:
            for index, reply in enumerate(replies):
                try:
                    await self._send_one(ref.address, reply, limiter)
                except DeliveryError as exc:
                    exc.sent = index
                    raise

    async def _send_one(self, chat_id: str, reply: Reply, limiter: AsyncLimiter) -> None:
        pieces = split_text(reply.text)
        markup = keyboard_for(reply)
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            await self._call(chat_id, limiter, piece, markup if last else None)

    async def _call(self, chat_id: str, limiter: AsyncLimiter, text: str, markup: object) -> None:
        for _attempt in range(3):
            async with limiter, self._overall:
                try:
                    # Plain text, no parse_mode: nothing a customer or admin writes can break formatting.
                    await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)  # type: ignore[arg-type]
                    return
                except RetryAfter as exc:
                    wait = retry_after_seconds(exc)
                    if wait > self.settings.max_inline_retry_seconds:
                        raise DeliveryError(f"Telegram flood control: retry after {wait:g}s", retry_after=wait) from exc
                    log.info("Telegram asked to wait %.1fs before sending to %s", wait, chat_id)
                except Forbidden as exc:
                    raise DeliveryError(f"blocked by the customer: {exc.message}", permanent=True) from exc
                except BadRequest as exc:
                    if "chat not found" in exc.message.lower():
                        raise DeliveryError(f"chat not found: {exc.message}", permanent=True) from exc
                    raise DeliveryError(f"Telegram refused the message: {exc.message}", permanent=True) from exc
                except (NetworkError, TelegramError) as exc:
                    raise DeliveryError(f"Telegram unreachable: {exc}") from exc
            await asyncio.sleep(wait)
        raise DeliveryError("Telegram flood control persisted", retry_after=self.settings.max_inline_retry_seconds)
