"""Sends replies to Telegram within its limits; failures become DeliveryError for the outbox."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.config import TelegramSettings
from bot.messages import ChannelRef, Reply
from bot.ports import DeliveryError
from handlers.telegram.convert import CHANNEL, keyboard_for, split_text
from handlers.telegram.pacing import SlidingWindowLimiter

log = logging.getLogger(__name__)
MAX_TRACKED_CHATS = 10_000
CAPTION_LIMIT = 1024  # characters of a photo caption Telegram accepts
# Telegram refuses a blank message; a keyboard must hang under some text.
BLANK_WITH_BUTTONS = "…"


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
        # Never more than max_per_second in any one-second window, and a late caller may catch up (pacing.py).
        self._overall = SlidingWindowLimiter(settings.max_per_second)
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

    async def limited(self, chat_id: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """One more call to a chat (an edit after a button press) within the same per-chat and overall limits
        as the messages: Telegram counts edits too, and an edit refused with 429 would leave the keyboard up."""
        limiter, lock = self._chat(chat_id)
        async with lock, limiter, self._overall:
            return await call()

    async def _send_one(self, chat_id: str, reply: Reply, limiter: AsyncLimiter) -> None:
        pieces = split_text(reply.text)
        markup = keyboard_for(reply)
        if reply.media is not None and reply.media.kind == "photo" and reply.media.ref:
            # A flow's `media:` picture (docs/flows.md); the text goes in its caption (with the keyboard) if it fits.
            fits = len(pieces) <= 1 and len("".join(pieces)) <= CAPTION_LIMIT
            caption = pieces[0] if fits and pieces else None
            photo = reply.media.ref
            try:
                send = partial(self.bot.send_photo, chat_id, photo, caption, reply_markup=markup if fits else None)
                await self._call(chat_id, limiter, send)
            except DeliveryError as exc:
                if not isinstance(exc.__cause__, BadRequest) or _chat_gone(exc.__cause__):
                    raise
                # An unusable picture (bad link, too big) must not cost the text, nor mark the customer unreachable.
                log.warning("picture %s not sent to %s: %s", photo, chat_id, exc)
            else:
                if fits:
                    return
        if not pieces:
            if markup is None:
                return  # nothing to show: Telegram would refuse a blank message as a bad request
            pieces = [BLANK_WITH_BUTTONS]
        for n, piece in enumerate(pieces):
            keys = markup if n == len(pieces) - 1 else None
            # Plain text, no parse_mode: nothing a customer or admin writes can break formatting.
            await self._call(chat_id, limiter, partial(self._send_text, chat_id, piece, keys))

    async def _send_text(self, chat_id: str, text: str, markup: InlineKeyboardMarkup | None) -> None:
        """sendMessage, without reading Telegram's answer into a `Message` as `Bot.send_message` does: nothing here
        uses it, and building it was about 500 Python calls a reply, a tenth of the bot's work per inbound message
        (bench/bench_inbound.py). The request and its errors go the same way (`Bot._post`, what send_message calls)."""
        data: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if markup is not None:
            data["reply_markup"] = markup
        await self.bot._post("sendMessage", data)

    async def _call(self, chat_id: str, limiter: AsyncLimiter, call: Callable[[], Awaitable[object]]) -> None:
        for _attempt in range(3):
            async with limiter, self._overall:
                try:
                    await call()
                    return
                except RetryAfter as exc:
                    wait = retry_after_seconds(exc)
                    if wait > self.settings.max_inline_retry_seconds:
                        raise DeliveryError(f"Telegram flood control: retry after {wait:g}s", retry_after=wait) from exc
                    log.info("Telegram asked to wait %.1fs before sending to %s", wait, chat_id)
                except Forbidden as exc:
                    raise DeliveryError(f"blocked by the customer: {exc.message}", unreachable=True) from exc
                except BadRequest as exc:
                    if _chat_gone(exc):
                        raise DeliveryError(f"chat not found: {exc.message}", unreachable=True) from exc
                    raise DeliveryError(f"Telegram refused the message: {exc.message}", permanent=True) from exc
                except (NetworkError, TelegramError) as exc:
                    raise DeliveryError(f"Telegram unreachable: {exc}") from exc
            await asyncio.sleep(wait)
        raise DeliveryError("Telegram flood control persisted", retry_after=self.settings.max_inline_retry_seconds)


def _chat_gone(exc: BadRequest) -> bool:
    return "chat not found" in exc.message.lower()
