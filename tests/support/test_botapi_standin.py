"""Proves the Bot API stand-in against the real python-telegram-bot: requests parsed, answers mapped to PTB errors."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from tests.support.botapi_standin import ApiError, BotApiStandIn, UploadedFile, botapi_fixture, serve_asgi  # noqa: F401

# Reading RetryAfter.retry_after warns until PTB_TIMEDELTA is the default; the helper below accepts both types.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

TOKEN = "123:ABC"
CHAT = 42


@contextlib.asynccontextmanager
async def real_bot(api: BotApiStandIn, token: str = TOKEN) -> AsyncIterator[Bot]:
    """A python-telegram-bot Bot pointed at the stand-in, initialized (getMe) and shut down."""
    async with Bot(token=token, base_url=api.base_url, base_file_url=api.file_url) as bot:
        yield bot


def seconds(retry_after: int | float | dtm.timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else float(retry_after)


def retry_after_of(error: RetryAfter) -> float:
    return seconds(error.retry_after)


def build_app(
    api: BotApiStandIn, rate_limiter: AIORateLimiter | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """An Application pointed at the stand-in, built the way the product builds it."""
    builder = ApplicationBuilder().token(TOKEN).base_url(api.base_url).base_file_url(api.file_url)
    if rate_limiter is None:
        return builder.build()
    return builder.rate_limiter(rate_limiter).build()


async def test_get_me_and_send_message_with_inline_keyboard_recorded_parsed() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        assert bot.bot.username == "engagebot_test_bot"
        assert bot.bot.id == 123
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="survey:yes")]])

        message = await bot.send_message(CHAT, "<b>Hi</b> Ana", reply_markup=keyboard, parse_mode="HTML")
        second = await bot.send_message(CHAT, "123")

        assert message.chat.id == CHAT and message.chat.type == "private"
        assert message.from_user is not None and message.from_user.is_bot
        assert message.text == "<b>Hi</b> Ana"
        assert message.reply_markup == keyboard
        assert second.message_id == message.message_id + 1
        assert second.text == "123"  # a numeric text stays a string
        (record, _) = api.calls("sendMessage")
        assert record["chat_id"] == CHAT
        assert record["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "survey:yes"}]]}
        assert record["parse_mode"] == "HTML"
        assert record["token"] == TOKEN and api.tokens == [TOKEN]
        assert record["ok"] is True and record["status"] == 200
        assert isinstance(record["time"], float) and record["time"] <= time.monotonic()
        assert api.messages_to(CHAT) == ["<b>Hi</b> Ana", "123"]
        assert [r["method"] for r in api.sent] == ["getMe", "sendMessage", "sendMessage"]


async def test_listeners_see_each_answered_call_with_its_arrival_time() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        seen: list[tuple[str, Any, bool]] = []
        api.listeners.append(lambda record: seen.append((record["method"], record["chat_id"], record["ok"])))
        before = time.monotonic()
        await bot.send_message(CHAT, "Hi")
        api.block_chat(CHAT)
        with pytest.raises(Forbidden):
            await bot.send_message(CHAT, "Hi again")

        assert seen == [("sendMessage", CHAT, True), ("sendMessage", CHAT, False)]
        assert before <= api.calls("sendMessage")[0]["time"] <= time.monotonic()


async def test_429_raises_retry_after_and_is_counted() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.fail_next("sendMessage", 429, retry_after=2)

        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(CHAT, "first")
        await bot.send_message(CHAT, "second")

        assert retry_after_of(caught.value) == 2
        assert api.too_many_requests == 1
        failed = api.calls("sendMessage")[0]
        assert failed["status"] == 429 and failed["error"] == "Too Many Requests: retry after 2"
        assert api.messages_to(CHAT) == ["second"]


async def test_error_bodies_have_the_real_api_shape() -> None:
    async with BotApiStandIn() as api, httpx.AsyncClient() as client:
        api.fail_next("sendMessage", 429, retry_after=3)
        api.block_chat(7)
        url = f"{api.base_url}{TOKEN}"

        limited = await client.post(f"{url}/sendMessage", data={"chat_id": "1", "text": "x"})
        blocked = await client.post(f"{url}/sendMessage", json={"chat_id": 7, "text": "x"})
        unknown = await client.post(f"{url}/fooBar")
        by_get = await client.get(f"{url}/sendMessage", params={"chat_id": "1", "text": "via GET"})

        assert limited.status_code == 429
        assert limited.json() == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        }
        assert blocked.status_code == 403
        assert blocked.json() == {
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot was blocked by the user",
        }
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        assert by_get.json()["ok"] is True and by_get.json()["result"]["text"] == "via GET"


async def test_blocked_chat_raises_forbidden_until_unblocked() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.block_chat(CHAT)

        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(CHAT, "hello")
        with pytest.raises(Forbidden):
            await bot.send_chat_action(CHAT, "typing")
        await bot.send_message(CHAT + 1, "other chats still work")
        api.unblock_chat(CHAT)
        await bot.send_message(CHAT, "back")

        assert api.messages_to(CHAT) == ["back"]
        assert api.messages_to(CHAT + 1) == ["other chats still work"]


async def test_server_and_client_errors_map_to_ptb_exceptions() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.fail_next("sendMessage", 500)
        api.fail_next("*", 502)
        api.fail_next("sendMessage", 400, description="Bad Request: chat not found")
        api.fail_next("sendMessage", 403, chat_id=99)

        with pytest.raises(NetworkError) as server_error:
            await bot.send_message(CHAT, "a")
        with pytest.raises(NetworkError) as gateway_error:
            await bot.send_message(CHAT, "b")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(CHAT, "c")
        await bot.send_message(CHAT, "d")  # the chat-specific fault does not match this chat
        with pytest.raises(Forbidden):
            await bot.send_message(99, "e")

        assert type(server_error.value) is NetworkError and "Internal Server Error" in str(server_error.value)
        assert type(gateway_error.value) is NetworkError and "Bad Gateway" in str(gateway_error.value)
        assert api.messages_to(CHAT) == ["d"]


async def test_real_api_validation_errors() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(CHAT, " ")
        with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
            await bot.send_message(CHAT, "Thanks, Ana.", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "br"'):
            await bot.send_message(CHAT, "line<br>line", parse_mode="HTML")
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
            await bot.send_message(CHAT, "pick", reply_markup=too_long)
        with pytest.raises(BadRequest, match="Wrong parameter action"):
            await bot.send_chat_action(CHAT, "dancing")
        await bot.send_message(CHAT, r"Thanks, *Ana*\. See [docs](https://example.com/a-b.c)", parse_mode="MarkdownV2")

        assert len(api.messages_to(CHAT)) == 1


async def test_edits_and_not_modified() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
        sent = await bot.send_message(CHAT, "Question?", reply_markup=keyboard)

        edited = await bot.edit_message_text("Answered", chat_id=CHAT, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Answered", chat_id=CHAT, message_id=sent.message_id)
        marked = await bot.edit_message_reply_markup(chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard)
        user_message = api.text_update(CHAT, "hello")["message"]
        with pytest.raises(BadRequest, match="Message can't be edited"):
            await bot.edit_message_text("x", chat_id=CHAT, message_id=user_message["message_id"])

        assert isinstance(edited, Message) and edited.text == "Answered"
        assert edited.reply_markup is None  # editMessageText without reply_markup drops the keyboard
        assert isinstance(marked, Message) and marked.reply_markup == keyboard
        assert api.calls("editMessageText")[0]["text"] == "Answered"
        assert api.calls("sendMessage")[0]["result"]["text"] == "Question?"  # records keep what was answered then


async def test_get_updates_returns_pushed_updates_and_honours_offset() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        first = api.push_update(api.text_update(CHAT, "hi"))
        second = api.push_update(api.text_update(CHAT, "/start promo", first_name="Bea"))

        updates = await bot.get_updates(timeout=0)
        again = await bot.get_updates(offset=second["update_id"], timeout=0)
        after = await bot.get_updates(offset=second["update_id"] + 1, timeout=0)

        assert [u.update_id for u in updates] == [first["update_id"], second["update_id"]] == [1, 2]
        assert updates[0].message is not None and updates[0].message.text == "hi"
        command = updates[1].message
        assert command is not None and command.from_user is not None and command.from_user.first_name == "Bea"
        assert command.parse_entities() and list(command.parse_entities().values()) == ["/start"]
        assert [u.update_id for u in again] == [2]
        assert after == ()
        assert api.pending_updates == []
        assert len(api.calls("getUpdates")) == 3 and all(r["method"] != "getUpdates" for r in api.sent)


async def test_long_poll_wakes_on_push_and_respects_the_cap() -> None:
    async with BotApiStandIn(max_poll_timeout=0.3) as api, real_bot(api) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=5) == ()  # capped at 0.3 s
        capped = time.monotonic() - started

        poll = asyncio.create_task(bot.get_updates(timeout=5))
        await api.wait_for(lambda: len(api.calls("getUpdates")) == 2)
        started = time.monotonic()
        api.push_update(api.location_update(CHAT))
        updates = await poll
        woke = time.monotonic() - started

        assert 0.25 <= capped < 2
        assert woke < 0.25
        assert updates[0].message is not None and updates[0].message.location is not None


async def test_stopping_ends_a_waiting_long_poll_at_once() -> None:
    api = BotApiStandIn()
    await api.start()
    async with httpx.AsyncClient() as client:
        poll = asyncio.create_task(client.post(f"{api.base_url}{TOKEN}/getUpdates", data={"timeout": "5"}))
        await api.wait_for(lambda: api.calls("getUpdates"))
        started = time.monotonic()
        await api.stop()
        response = await poll

    assert time.monotonic() - started < 1
    assert response.json() == {"ok": True, "result": []}


async def test_the_fixture_serves_a_fresh_stand_in(botapi: BotApiStandIn) -> None:
    async with real_bot(botapi) as bot:
        await bot.send_message(CHAT, "from the fixture")

    assert botapi.url.startswith("http://127.0.0.1:")
    assert botapi.messages_to(CHAT) == ["from the fixture"]


async def test_a_newer_get_updates_terminates_the_waiting_one() -> None:
    async with BotApiStandIn() as api, real_bot(api) as first_instance, real_bot(api) as second_instance:
        waiting = asyncio.create_task(first_instance.get_updates(timeout=5))
        await api.wait_for(lambda: api.calls("getUpdates"))

        assert await second_instance.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await waiting


async def test_allowed_updates_filter_what_polling_gets() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.push_update(api.text_update(CHAT, "dropped"))
        wanted = api.push_update(api.callback_update(CHAT, 1, "menu"))

        updates = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])

        assert [u.update_id for u in updates] == [wanted["update_id"]]
        assert api.allowed_updates == ["callback_query"]
        assert api.calls("getUpdates")[0]["allowed_updates"] == ["callback_query"]


async def test_webhook_set_makes_get_updates_conflict_until_deleted() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.push_update(api.text_update(CHAT, "pending"))
        await bot.set_webhook("https://bot.example.com/hook", secret_token="s3cr3t", allowed_updates=["message"])

        info = await bot.get_webhook_info()
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)
        with pytest.raises(BadRequest, match="Secret token contains unallowed characters"):
            await bot.set_webhook("https://bot.example.com/hook", secret_token="no spaces")
        await bot.delete_webhook(drop_pending_updates=True)

        assert info.url == "https://bot.example.com/hook" and info.pending_update_count == 1
        assert api.webhook is None
        assert api.calls("setWebhook")[0]["secret_token"] == "s3cr3t"
        assert api.calls("setWebhook")[0]["allowed_updates"] == ["message"]
        assert await bot.get_updates(timeout=0) == ()  # pending update was dropped


async def test_post_webhook_sends_the_update_with_the_secret_header() -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: Request) -> Response:
        received.append((request.headers.get("x-telegram-bot-api-secret-token"), await request.json()))
        return Response(status_code=200)

    async with (
        serve_asgi(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver,
        BotApiStandIn() as api,
        real_bot(api) as bot,
    ):
        with pytest.raises(RuntimeError, match="no webhook"):
            await api.post_webhook(api.text_update(CHAT, "x"))
        await bot.set_webhook(f"{receiver}/hook", secret_token="s3cr3t")

        response = await api.post_webhook(api.text_update(CHAT, "via webhook"), secret="s3cr3t")
        await api.post_webhook(api.text_update(CHAT, "no secret"))

    assert response.status_code == 200
    assert [(secret, body["message"]["text"]) for secret, body in received] == [
        ("s3cr3t", "via webhook"),
        (None, "no secret"),
    ]
    assert received[0][1]["update_id"] < received[1][1]["update_id"]


async def test_delay_triggers_client_timeout_but_the_message_still_arrives() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.delay_next("sendMessage", 0.4)

        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "slow", read_timeout=0.1)

        assert await api.wait_for_messages(CHAT, 1) == ["slow"]


async def test_enforced_limits_answer_429_with_a_retry_after() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.enforce_limits(global_per_second=3, per_chat_per_second=1)

        await bot.send_message(1, "a")
        with pytest.raises(RetryAfter) as per_chat:
            await bot.send_message(1, "b")
        await bot.send_message(2, "c")
        await bot.send_chat_action(2, "typing")  # chat actions are not counted
        await bot.send_message(3, "d")
        with pytest.raises(RetryAfter) as overall:
            await bot.send_message(4, "e")
        api.disable_limits()
        await bot.send_message(1, "f")

        assert retry_after_of(per_chat.value) == 1 and retry_after_of(overall.value) == 1
        assert api.too_many_requests == 2
        assert api.messages_to(1) == ["a", "f"]


async def test_ptb_rate_limiter_retries_after_a_429() -> None:
    async with BotApiStandIn() as api:
        api.enforce_limits(per_chat_per_second=1, retry_after=1)
        async with build_app(api, AIORateLimiter(max_retries=2)) as app:
            await app.bot.send_message(CHAT, "one")
            await app.bot.send_message(CHAT, "two")  # 429 once, then retried after 1 s

        assert api.messages_to(CHAT) == ["one", "two"]
        assert api.too_many_requests == 1


async def test_application_polling_receives_updates_and_stops_cleanly() -> None:
    seen: list[int] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Rate 5", callback_data="rate:5")]])
        await update.effective_message.reply_text(f"Welcome! args={context.args}", reply_markup=keyboard)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer("Thanks!", show_alert=True)
        await query.edit_message_text(f"You chose {query.data}")

    async def count(update: object, context: CallbackContext[Any, Any, Any, Any]) -> None:
        assert isinstance(update, Update)
        seen.append(update.update_id)

    async with BotApiStandIn() as api:
        app = build_app(api)
        app.add_handler(TypeHandler(Update, count), group=-1)
        app.add_handler(CommandHandler("start", start))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        app.add_handler(CallbackQueryHandler(button))
        assert app.updater is not None
        updater = app.updater
        await app.initialize()
        await updater.start_polling(poll_interval=0.05, timeout=1)
        await app.start()
        try:
            api.push_update(api.text_update(CHAT, "/start promo"))
            api.push_update(api.text_update(CHAT, "hello"))
            welcome = (await api.wait_for_messages(CHAT, 2))[0]
            menu = next(r for r in api.calls("sendMessage") if r["text"] == welcome)
            api.push_update(api.callback_update(CHAT, menu["result"]["message_id"], "rate:5"))
            answer = (await api.wait_for_calls("answerCallbackQuery"))[0]
            edit = (await api.wait_for_calls("editMessageText"))[0]
        finally:
            await updater.stop()
            await app.stop()
            await app.shutdown()

        assert api.messages_to(CHAT) == ["Welcome! args=['promo']", "echo: hello"]
        assert menu["reply_markup"] == {"inline_keyboard": [[{"text": "Rate 5", "callback_data": "rate:5"}]]}
        assert answer["text"] == "Thanks!" and answer["show_alert"] is True
        assert edit["text"] == "You chose rate:5" and edit["ok"] is True
        assert seen == [1, 2, 3]
        assert api.crashes == []
        assert api.pending_updates == []  # the updater confirmed everything on stop
        assert [r["method"] for r in api.sent][:2] == ["getMe", "deleteWebhook"]


async def test_files_photo_download_and_document_upload() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        update = Update.de_json(api.photo_update(CHAT, "PHOTO-1", caption="my receipt", content=b"\x00jpeg\r\n"), bot)
        assert update.message is not None and update.message.caption == "my receipt"

        file = await bot.get_file(update.message.photo[-1].file_id)
        content = await file.download_as_bytearray()
        document = await bot.send_document(CHAT, InputFile(b"a,b\r\n1,2\n", filename="report.csv"), caption="Report")
        photo = await bot.send_photo(CHAT, "PHOTO-1")
        with pytest.raises(BadRequest, match="Invalid file_id"):
            await bot.get_file("nope")

        assert bytes(content) == b"\x00jpeg\r\n"
        upload = api.calls("sendDocument")[0]["document"]
        assert isinstance(upload, UploadedFile) and upload.filename == "report.csv"
        assert upload.content == b"a,b\r\n1,2\n"
        assert api.calls("sendDocument")[0]["caption"] == "Report" and api.calls("sendDocument")[0]["chat_id"] == CHAT
        assert document.document is not None and document.document.file_name == "report.csv"
        assert photo.photo[-1].file_id == "PHOTO-1"
        uploaded = await bot.get_file(document.document.file_id)
        assert bytes(await uploaded.download_as_bytearray()) == b"a,b\r\n1,2\n"


async def test_update_builders_parse_in_ptb() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        bot_message = await bot.send_message(CHAT, "Pick one", reply_markup=InlineKeyboardMarkup.from_button(
            InlineKeyboardButton("A", callback_data="a")
        ))  # fmt: skip
        built = {
            "group": api.group_text_update(-100, "hi all", user_id=7),
            "callback": api.callback_update(CHAT, bot_message.message_id, "a"),
            "document": api.document_update(CHAT, "DOC-1", caption="contract"),
            "sticker": api.sticker_update(CHAT),
            "location": api.location_update(CHAT, 1.5, 2.5),
            "contact": api.contact_update(CHAT, "+351911111111"),
            "edited": api.edited_text_update(CHAT, 5, "fixed typo"),
        }
        updates = {name: Update.de_json(api.push_update(data), bot) for name, data in built.items()}

        group = updates["group"]
        assert group.effective_chat is not None and group.effective_chat.type == "group"
        assert group.effective_user is not None and group.effective_user.id == 7
        query = updates["callback"].callback_query
        assert query is not None and query.data == "a" and query.from_user.id == CHAT
        assert query.message is not None and getattr(query.message, "text", None) == "Pick one"
        assert getattr(query.message, "reply_markup", None) == bot_message.reply_markup
        document = updates["document"].message
        assert document is not None and document.document is not None and document.caption == "contract"
        assert document.document.file_name == "document.pdf"
        sticker = updates["sticker"].message
        assert sticker is not None and sticker.sticker is not None and sticker.sticker.emoji == "👍"
        location = updates["location"].message
        assert location is not None and location.location is not None and location.location.longitude == 2.5
        contact = updates["contact"].message
        assert contact is not None and contact.contact is not None and contact.contact.user_id == CHAT
        edited = updates["edited"].edited_message
        assert edited is not None and edited.text == "fixed typo" and edited.edit_date is not None
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == list(range(1, 8))


async def test_commands_chat_actions_and_leave_chat_are_recorded() -> None:
    async with BotApiStandIn() as api, real_bot(api) as bot:
        await bot.set_my_commands([("start", "Begin"), ("help", "Get help")])
        await bot.set_my_commands([("start", "Começar")], language_code="pt")
        commands = await bot.get_my_commands()
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([("Bad-Command", "x")])
        await bot.send_chat_action(CHAT, "typing")
        await bot.leave_chat(-100)
        chat = await bot.get_chat(CHAT)
        await bot.delete_my_commands()

        assert [(c.command, c.description) for c in commands] == [("start", "Begin"), ("help", "Get help")]
        assert api.bot_commands(language_code="pt") == [{"command": "start", "description": "Começar"}]
        assert api.bot_commands() == []
        assert api.calls("sendChatAction")[0]["action"] == "typing"
        assert api.left_chats == [-100]
        assert chat.id == CHAT and chat.type == "private"


async def test_unknown_method_and_tokens() -> None:
    async with BotApiStandIn(tokens=[TOKEN]) as api:
        async with real_bot(api) as bot:
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("fooBar")
        with pytest.raises(InvalidToken):
            async with real_bot(api, token="999:WRONG"):
                pass

        assert api.tokens == [TOKEN, "999:WRONG"]
        assert api.calls("fooBar")[0]["status"] == 404
        assert api.calls("getMe")[-1]["status"] == 401


async def test_custom_handlers_and_crashing_handlers() -> None:
    def menu_button(params: dict[str, Any]) -> bool:
        if params.get("chat_id") == 0:
            raise ApiError(400, "Bad Request: chat not found")
        return True

    def broken(params: dict[str, Any]) -> Any:
        raise KeyError("oops")

    async with BotApiStandIn() as api, real_bot(api) as bot:
        api.set_handler("setChatMenuButton", menu_button)
        api.set_handler("getMyDescription", broken)

        assert await bot.set_chat_menu_button(chat_id=CHAT) is True
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.set_chat_menu_button(chat_id=0)
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.get_my_description()

        assert api.calls("setChatMenuButton")[0]["chat_id"] == CHAT
        assert [type(exc) for exc in api.crashes] == [KeyError]
