"""Telegram adapter: python-telegram-bot in polling or webhook mode, one catch-all handler into the engine."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import BotCommand, CallbackQuery, ChatMember, MaybeInaccessibleMessage, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.conversations.locks import KeyedLocks
from bot.core import Core
from bot.messages import ChannelRef, Inbound
from bot.outbox.delivery import Delivery
from bot.storage.database import is_unavailable
from handlers.ratelimit import RefusalLog
from handlers.telegram.convert import (
    CHANNEL,
    callback_to_inbound,
    chosen_label,
    message_to_inbound,
    plain_text_inbound,
)
from handlers.telegram.http import AiohttpRequest
from handlers.telegram.sender import TelegramChannel

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
STORE_ATTEMPTS = 12  # about five minutes of backoff before an update is given up
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
POLL_TIMEOUT = 10  # seconds a getUpdates long poll waits for updates
POLL_RETRY_FIRST = 1.0  # seconds before fetching again after a failure (doubling up to a minute)
STOP_GRACE = 10  # seconds a stop waits for the update being handled
BUILT_IN_COMMANDS = [
    BotCommand("help", "What I can do"),
    BotCommand("menu", "Show the menu"),
    BotCommand("stop", "Stop messages from us"),
]
ANSWER_LIMIT = 200  # characters of a callback query answer Telegram accepts
GROUP_GOODBYE = "Hi! I only chat one-to-one. Please message me directly. Bye for now!"


class TelegramAdapter:
    def __init__(self, core: Core):
        settings = core.settings
        token = settings.secrets.telegram_bot_token
        if token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        self.core = core
        self.settings = settings
        self.mode = settings.telegram.mode
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder().token(token.get_secret_value()).base_url(settings.telegram.api_url)
        )
        # No Updater in either mode: polling is our own loop (`_poll`), which confirms an update only once handled.
        self._poll_request = AiohttpRequest(1)
        builder = builder.updater(None).request(AiohttpRequest()).get_updates_request(self._poll_request)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_error_handler(self._on_error)
        self.channel = TelegramChannel(self.application.bot, settings.telegram)
        core.add_channel(self.channel)
        self._started = False
        self._starting: asyncio.Task[None] | None = None
        self._polling: asyncio.Task[None] | None = None
        self._handling: asyncio.Event = asyncio.Event()  # set while the poll loop hands an update to the engine
        self._stop_polling = False
        self._offset: int | None = None  # the next getUpdates offset: confirms every update handled so far
        self._refusals = RefusalLog(log)  # anyone who finds the webhook URL can flood it: a few lines, not one each
        # A chat's updates are handled one after another, each until its replies are sent and marked (see on_update).
        self._chats = KeyedLocks()
        # Per chat, the replies being sent after their update was done (see _handle_and_deliver).
        self._sending: dict[int, asyncio.Task[None]] = {}

    # ---- lifecycle --------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])] if self.mode == "webhook" else []

    async def start(self) -> None:
        """Start in the background; if Telegram is unreachable, keep trying without blocking the app."""
        self._starting = asyncio.create_task(self._start_with_retries())

    async def _start_with_retries(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._start_once()
                return
            except TelegramError as exc:
                log.error("Telegram start failed (%s); retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)

    async def _start_once(self) -> None:
        app = self.application
        await app.initialize()
        await app.bot.set_my_commands(self._commands())
        if self.mode == "webhook":
            url = f"{self.settings.public_url}{WEBHOOK_PATH}"
            secret = self.settings.secrets.telegram_webhook_secret
            await app.bot.set_webhook(
                url,
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=ALLOWED_UPDATES,
                # As many updates at once as polling handles (Telegram's default of 40 only adds contention).
                max_connections=self.settings.telegram.concurrent_updates,
            )
            log.info("Telegram webhook set to %s", url)
        else:
            # Long polling needs the webhook gone; updates still pending are kept and deduplicated.
            await app.bot.delete_webhook()
        await app.start()
        if self.mode == "polling":
            self._polling = asyncio.create_task(self._poll())
            log.info("Telegram long polling started")
        self._started = True

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self._polling is not None and not self._polling.done():
            await self._stop_poll(self._polling)
        if self._sending:
            # Replies of stored messages still going out: left unsent, they would wait out their lease (a minute).
            await asyncio.wait(list(self._sending.values()), timeout=STOP_GRACE)
        app = self.application
        if app.running:
            await app.stop()
        with contextlib.suppress(Exception):
            await app.shutdown()

    def _commands(self) -> list[BotCommand]:
        commands = {c.command: c for c in BUILT_IN_COMMANDS}
        for lf in self.core.registry.all():
            for trigger in lf.flow.triggers:
                name = getattr(trigger, "command", None)
                if name and name[1:] not in commands:
                    commands[name[1:]] = BotCommand(name[1:], (lf.flow.title or lf.id)[:256])
        return list(commands.values())[:100]

    async def _stop_poll(self, task: asyncio.Task[None]) -> None:
        """Let the update being handled finish (its replies sent and marked), then end the loop. One still running
        after STOP_GRACE is cut short: it was not confirmed, so Telegram delivers it again and the duplicate check
        decides."""
        self._stop_polling = True
        if self._handling.is_set():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._offset is not None:
            # Confirm what was handled, so the next start does not fetch it again (harmless if it did).
            with contextlib.suppress(TelegramError):
                await self.application.bot.get_updates(offset=self._offset, timeout=0, limit=1)

    async def _poll(self) -> None:
        """Long polling that confirms an update (the next getUpdates offset) only once it is handled.

        python-telegram-bot's Updater confirms a whole batch as soon as it is queued, so a crash (kill -9, out of
        memory) lost every update fetched but not handled yet. Here a crash leaves them with Telegram, which
        delivers them again; the one being handled may have been stored already, and the duplicate check drops it.
        """
        delay = POLL_RETRY_FIRST
        while not self._stop_polling:
            try:
                updates = await self._get_updates()
            except TelegramError as exc:  # unreachable, 5xx, 409 (another poller): try again, backing off
                log.error("Telegram getUpdates failed (%s); retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
                continue
            delay = POLL_RETRY_FIRST
            if not updates or self._stop_polling:
                continue  # on a stop, what was fetched stays unconfirmed: the next start handles it
            self._handling.set()
            try:
                stored = await self._handle_batch(updates)
            finally:
                self._handling.clear()
            if not stored:
                await asyncio.sleep(POLL_RETRY_FIRST)

    async def _get_updates(self) -> list[dict[str, Any]]:
        """getUpdates as Telegram answers it: the request of `Bot.get_updates`, without reading every update into
        python-telegram-bot's objects (a plain text message is read from its JSON: `_read`)."""
        data = {"timeout": POLL_TIMEOUT, "offset": self._offset, "allowed_updates": ALLOWED_UPDATES}
        read_timeout = (self._poll_request.read_timeout or 0) + POLL_TIMEOUT  # a long poll answers after its wait
        return await self.application.bot._post("getUpdates", data, read_timeout=read_timeout)  # type: ignore[no-any-return]

    def _read(self, data: dict[str, Any]) -> Inbound | Update:
        """A plain text message in a private chat as an Inbound (convert.plain_text_inbound), anything else as
        python-telegram-bot's Update. Raises for an update python-telegram-bot cannot read."""
        plain = plain_text_inbound(data)
        if plain is not None:
            return plain
        update = Update.de_json(data, self.application.bot)
        if update is None:
            raise ValueError("no update")
        return update

    async def _handle_batch(self, updates: list[dict[str, Any]]) -> bool:
        """Handle fetched updates, up to `telegram.concurrent_updates` chats at once and each chat's in order,
        then confirm those handled (the offset stops at the first one that was not). False when the database
        stayed down through every retry: the updates left are fetched again.

        One at a time, every customer waited for all the others' database work and replies in the batch; a
        customer's own messages still go one after another, so their replies keep their order."""
        chats: dict[object, list[tuple[int, Inbound | Update | None]]] = {}
        for data in updates:
            update_id = data["update_id"]
            try:
                read: Inbound | Update | None = self._read(data)
            except Exception:  # one update nobody can read must not stop the others (nor be fetched for ever)
                log.exception("Telegram update %s unreadable; skipped", update_id)
                read = None
            chat = _chat_of(read)
            chats.setdefault(chat if chat is not None else ("update", update_id), []).append((update_id, read))
        handled: set[int] = set()
        stored = True
        gate = asyncio.Semaphore(self.settings.telegram.concurrent_updates)

        async def handle_chat(queue: list[tuple[int, Inbound | Update | None]]) -> None:
            async with gate:
                await handle_in_order(queue)

        async def handle_in_order(queue: list[tuple[int, Inbound | Update | None]]) -> None:
            nonlocal stored
            for update_id, read in queue:
                if self._stop_polling:
                    return  # unconfirmed: the next start handles it
                try:
                    if isinstance(read, Inbound):
                        await self._in_chat_order(int(read.address), partial(self._handle_and_deliver, read))
                    elif read is not None:
                        await self.on_update(read)
                except Exception as exc:
                    if is_unavailable(exc):
                        log.error("update %s not stored; it will be fetched again", update_id)
                        stored = False
                        return  # this chat's later updates wait too, to keep their order
                    # A bug with this one update must not stop the bot (nor be retried for ever).
                    log.exception("Telegram update %s failed", update_id)
                handled.add(update_id)

        try:
            await asyncio.gather(*(handle_chat(queue) for queue in chats.values()))
        finally:  # a stop cutting the batch short confirms what was handled too
            left = [data["update_id"] for data in updates if data["update_id"] not in handled]
            self._offset = min(left) if left else updates[-1]["update_id"] + 1
        return stored

    # ---- webhook ----------------------------------------------------------------------------

    async def _webhook(self, request: Request) -> Response:
        secret = self.settings.secrets.telegram_webhook_secret
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if secret is None or not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            client = _client(request)
            self._refusals.refused(("secret", client), 0, "webhook: request without the right "
                                   "X-Telegram-Bot-Api-Secret-Token refused; from %s", client)  # fmt: skip
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await request.body()  # bounded as it streams in (handlers.bodylimit: server.max_body_bytes)
        try:
            data = json.loads(body)
            plain = plain_text_inbound(data)  # most updates: no python-telegram-bot objects needed
            update = Update.de_json(data, self.application.bot) if plain is None else None
            if plain is None and update is None:
                raise ValueError("no update")  # JSON null
        except Exception:
            client = _client(request)
            self._refusals.refused(("unreadable", client), 0, "webhook: unreadable update refused; from %s", client)
            return JSONResponse({"error": "not a Telegram update"}, status_code=400)
        # Answer only once the update is stored: an error here makes Telegram deliver it again. In a task of its own,
        # awaited once: awaited directly, every wait inside (a lock, each database round trip) would resume the ~15
        # coroutines of the ASGI stack above (server, middlewares, router) as well, each time. Cancelled with us.
        if plain is not None:
            await asyncio.create_task(self._in_chat_order(int(plain.address), partial(self._handle_and_deliver, plain)))
        elif update is not None:
            await asyncio.create_task(self.on_update(update))
        return Response(status_code=200)

    # ---- updates ----------------------------------------------------------------------------

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram update failed: %r", context.error, exc_info=context.error)

    async def on_update(self, update: Update) -> None:
        """Handle one update; a chat's updates one at a time, each once the replies before it are sent and marked.

        Webhook requests for one chat can overlap: a customer who answers as soon as the question arrives writes
        before the question's outbox row is marked sent. Stored then, the answer's reply would be held behind that
        row for the dispatcher (its order kept, but a poll later). Polling hands over a chat's updates in order."""
        chat = update.effective_chat
        if chat is None:
            await self._on_update(update)
            return
        await self._in_chat_order(chat.id, partial(self._on_update, update))

    async def _in_chat_order(self, chat_id: int, handle: Callable[[], Awaitable[None]]) -> None:
        async with self._chats.hold(chat_id):
            sending = self._sending.get(chat_id)
            if sending is not None:
                await asyncio.wait([sending])  # its outcome is its own (logged there)
            await handle()

    async def _on_update(self, update: Update) -> None:
        chat = update.effective_chat
        if chat is not None and chat.type != "private" and not self.settings.telegram.allow_groups:
            await self._leave_group(update)
            return
        if update.callback_query is not None:
            await self._on_callback(update)
        elif update.message is not None:
            inbound = message_to_inbound(update)
            if inbound is not None:
                await self._handle_and_deliver(inbound)
        elif update.edited_message is not None:
            # Documented choice: edits are not re-processed (the conversation has moved on).
            log.debug("edited message %s ignored", update.edited_message.message_id)

    async def _on_callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        inbound = callback_to_inbound(update)
        if inbound is None:
            with contextlib.suppress(TelegramError):
                await query.answer()
            return
        delivery = await self._store_and_answer(inbound)
        replies = list(delivery.replies)
        stale = bool(replies) and replies[0].stale
        with contextlib.suppress(TelegramError):
            if stale:
                await query.answer(text=replies[0].text[:ANSWER_LIMIT])
            else:
                await query.answer()
        message = query.message
        if message is not None and delivery.duplicate is False:
            label = None if stale else chosen_label(message, inbound.choice or "")
            await self._close_question(query, message, label)
        if stale:
            await self.core.deliveries.mark_sent(delivery.outbox_id)  # delivered as the answer to the press
            return
        await self._deliver(inbound.ref, delivery)

    async def _close_question(self, query: CallbackQuery, message: MaybeInaccessibleMessage, label: str | None) -> None:
        """Show the chosen answer under the question and remove its keyboard (only the keyboard for a stale press).

        Edits go through the channel's limits like messages. If the text cannot be edited (too long with the
        answer, a photo's caption...), the keyboard is still removed, so it cannot be pressed again."""
        chat_id = str(message.chat.id)
        text = getattr(message, "text", None)
        if label and text:
            try:
                edit = partial(query.edit_message_text, f"{text}\n\n» {label}", reply_markup=None)
                await self.channel.limited(chat_id, edit)
                return
            except TelegramError as exc:
                log.info("could not show the answer under message %s: %s", message.message_id, exc)
        with contextlib.suppress(TelegramError):
            await self.channel.limited(chat_id, partial(query.edit_message_reply_markup, reply_markup=None))

    async def _handle_and_deliver(self, inbound: Inbound) -> None:
        """Store and answer, then send in the background: the update is done (the webhook request answered, the
        polled update confirmed) once the message is stored and its replies are an outbox row. Waiting for the send
        held a webhook request open, one of Telegram's few connections (`max_connections`), and held up the next
        getUpdates for every chat in the batch. A crash before the replies are sent leaves the row to the dispatcher
        when its lease runs out; a failed send is recorded for a retry, as before."""
        delivery = await self._store_and_answer(inbound)
        if delivery.outbox_id is None or delivery.held:
            return  # nothing to send now (a duplicate, no replies, or the dispatcher keeps the order)
        task = asyncio.create_task(self._deliver(inbound.ref, delivery))
        chat = int(inbound.address)
        self._sending[chat] = task
        task.add_done_callback(partial(self._sent, chat))
        # One turn of the event loop first, in which the send writes its request: otherwise the webhook's answer (or
        # the next getUpdates) takes the CPU before it, and the customer waits for that too. Never for the reply's
        # answer: that would hold one of the webhook's few connections (docs/decisions.md, "Tenth round").
        await asyncio.sleep(0)

    def _sent(self, chat: int, task: asyncio.Task[None]) -> None:
        if self._sending.get(chat) is task:
            del self._sending[chat]
        if not task.cancelled() and task.exception() is not None:
            # Not marked sent: the dispatcher sends the row when its lease runs out (at most this batch twice).
            log.error("replies to chat %s: %r", chat, task.exception())

    async def _store_and_answer(self, inbound: Inbound) -> Delivery:
        """Hand the update to the engine, waiting out a database outage instead of dropping it.

        In polling mode python-telegram-bot confirms an update even when its handler fails, so
        giving up here would lose the message; Telegram keeps the next updates queued meanwhile.
        In webhook mode the request fails after the last try and Telegram delivers it again.
        """
        delay = 0.5
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                return await self.core.engine.handle_for_delivery(inbound)
            except Exception as exc:
                if attempt == STORE_ATTEMPTS or not is_unavailable(exc):
                    raise
                log.error("database unavailable (%s); retrying update in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
        raise AssertionError("unreachable")

    async def _deliver(self, ref: ChannelRef, delivery: Delivery) -> None:
        """The core's delivery API sends through our channel and records the outcome (sent, or failed for a retry)."""
        await self.core.deliveries.deliver(delivery, partial(self.channel.send, ref))

    async def _leave_group(self, update: Update) -> None:
        chat = update.effective_chat
        assert chat is not None
        if update.message is None and update.my_chat_member is None:
            return
        member = update.my_chat_member
        if member is not None and member.new_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED):
            return  # we were removed (or just left): nothing to say, nowhere to say it
        # Separately: when the goodbye cannot be posted (no right to write), the bot must still leave.
        with contextlib.suppress(TelegramError):
            await self.application.bot.send_message(chat.id, GROUP_GOODBYE)
        with contextlib.suppress(TelegramError):
            await self.application.bot.leave_chat(chat.id)


def _chat_of(read: Inbound | Update | None) -> int | None:
    if isinstance(read, Inbound):
        return int(read.address)
    chat = read.effective_chat if read is not None else None
    return chat.id if chat is not None else None


__all__ = ["CHANNEL", "TelegramAdapter"]


def _client(request: Request) -> str:
    """The sender's address, for a refusal's log line (only then: most requests never need it)."""
    return request.client.host if request.client else "-"
