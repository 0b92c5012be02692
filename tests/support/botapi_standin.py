"""A local Telegram Bot API stand-in over real HTTP, for end-to-end tests of python-telegram-bot applications."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import math
import re
import socket
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Generator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

T = TypeVar("T")
JSONDict = dict[str, Any]
Record = dict[str, Any]
MethodHandler = Callable[[JSONDict], Any]

DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: invalid request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
    "as a content and reply markup of the current message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = DEFAULT_DESCRIPTIONS[409]

# Parameters whose form value is a plain string, never JSON (a text "123" must stay a string).
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "url", "secret_token", "callback_query_id", "inline_message_id", "file_id",
        "action", "ip_address", "emoji", "title", "description", "short_description", "name", "language_code",
        "photo", "document", "sticker", "video", "audio", "voice", "animation", "video_note", "thumbnail",
        "certificate", "query", "business_connection_id", "message_effect_id", "phone_number", "first_name",
        "last_name", "vcard", "address", "foursquare_id", "payload", "currency", "provider_token", "start_parameter",
        "switch_pm_text", "next_offset", "custom_title", "sticker_set_name", "question", "explanation",
    }
)  # fmt: skip
# Update kinds the Bot API leaves out unless asked for explicitly in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
     "blockquote", "tg-emoji"}
)  # fmt: skip
# MarkdownV2 characters that are always an error unescaped outside code (conservative: no false positives).
_MDV2_RESERVED = frozenset(".!#+-={}()")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ApiError(Exception):
    """An error answer of the Bot API; raise it from a handler given to ``BotApiStandIn.set_handler``."""

    def __init__(self, status: int, description: str | None = None, parameters: JSONDict | None = None) -> None:
        self.status = status
        self.parameters = parameters
        retry_after = (parameters or {}).get("retry_after", "")
        self.description = description or DEFAULT_DESCRIPTIONS.get(status, f"Error {status}").format(
            retry_after=retry_after
        )
        super().__init__(self.description)

    def body(self) -> JSONDict:
        """The JSON answer, shaped like the real Bot API's."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 answer, worded ``Bad Request: <detail>`` like the real API."""
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (what python-telegram-bot sends for an InputFile)."""

    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class StoredFile:
    """A file the stand-in can hand out through getFile and the file download URL."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes


@dataclass
class _Fault:
    method: str  # lower-case method name, or "*"
    status: int
    remaining: int
    retry_after: int | None
    description: str | None
    chat_id: str | None

    def error(self) -> ApiError:
        retry_after = self.retry_after
        if self.status == 429 and retry_after is None:
            retry_after = 1
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        return ApiError(self.status, self.description, parameters)


@dataclass
class _Delay:
    method: str  # lower-case method name, or "*"
    seconds: float
    remaining: int


@dataclass
class _Limits:
    global_per_second: int | None
    per_chat_per_second: int | None
    burst: int
    per_group_per_minute: int | None
    retry_after: int | None
    global_window: deque[float] = field(default_factory=deque)
    chat_windows: dict[str, deque[float]] = field(default_factory=dict)
    group_windows: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, chat_key: str | None, is_group: bool, now: float) -> int | None:
        """Seconds to wait if this request exceeds a limit (nothing is counted then), else count it and None."""
        checks: list[tuple[deque[float], int, float]] = []
        if self.global_per_second is not None:
            checks.append((self.global_window, self.global_per_second + self.burst, 1.0))
        if chat_key is not None and self.per_chat_per_second is not None:
            checks.append((self.chat_windows.setdefault(chat_key, deque()), self.per_chat_per_second + self.burst, 1.0))
        if chat_key is not None and is_group and self.per_group_per_minute is not None:
            checks.append((self.group_windows.setdefault(chat_key, deque()), self.per_group_per_minute, 60.0))
        waits = [wait for window, limit, period in checks if (wait := _window_wait(window, limit, period, now))]
        if waits:
            return self.retry_after or max(1, math.ceil(max(waits)))
        for window, _, _ in checks:
            window.append(now)
        return None


def _window_wait(window: deque[float], limit: int, period: float, now: float) -> float | None:
    while window and window[0] <= now - period:
        window.popleft()
    if len(window) >= limit:
        return window[0] + period - now
    return None


class _QuietServer(uvicorn.Server):
    """uvicorn for tests: no signal handlers (the test runner keeps Ctrl-C), and it stops in milliseconds instead of
    uvicorn's 0.1 s ticks, so a stand-in per test stays cheap."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the default headers once
        await self.exit_requested.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close now, busy ones after their response
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 2)
        # uvicorn offers no event for "last connection closed", so poll (finely: it takes a loop turn or two).
        while (self.server_state.connections or self.server_state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        for task in list(self.server_state.tasks):
            task.cancel()
        for server in self.servers:
            await server.wait_closed()


@contextlib.asynccontextmanager
async def serve_asgi(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free port, as a task of the running event loop; yields its base URL."""
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off (TCP_NODELAY) for such sockets; without it every
    # request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, http="h11", ws="none", timeout_graceful_shutdown=2
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{host}:{port}")
    try:
        while not server.started:
            if task.done():
                task.result()  # startup failed: raise its error
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.002)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        server.exit_requested.set()
        try:
            await task
        finally:
            sock.close()


class ServedStandIn:
    """Serves `self.app` on a free port of 127.0.0.1 while in use: `async with` it, or start()/stop()."""

    app: Starlette

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        self._url: str | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve on a free port of 127.0.0.1 in the running event loop."""
        if self._stack is not None:
            raise RuntimeError("the stand-in is already running")
        self._closing.clear()
        stack = contextlib.AsyncExitStack()
        self._url = await stack.enter_async_context(serve_asgi(self.app))
        self._stack = stack

    async def stop(self) -> None:
        """Wake whatever waits (long polls, delays) at once, then stop the server."""
        if self._stack is None:
            return
        self._closing.set()
        self._on_stop()
        stack, self._stack = self._stack, None
        await stack.aclose()

    def _on_stop(self) -> None:
        """Hook for subclasses with more waiters than `_closing`."""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._url is None:
            raise RuntimeError(f"the stand-in is not running: use `async with {type(self).__name__}() as api`")
        return self._url


class BotApiStandIn(ServedStandIn):
    """The Telegram Bot API on 127.0.0.1: records what the bot sends, feeds it updates, injects faults and limits.

    Start it in the test's event loop and point the bot at it::

        async with BotApiStandIn() as api:
            app = ApplicationBuilder().token("123:ABC").base_url(api.base_url).base_file_url(api.file_url).build()
            api.push_update(api.text_update(42, "/start"))
            ...
            assert await api.wait_for_messages(42, 1) == ["Welcome!"]

    Requests are read the way python-telegram-bot sends them (form-encoded, or multipart when files are uploaded,
    every non-string value JSON-encoded); JSON bodies and GET query strings work too. Every answer has the real Bot
    API shape and HTTP status, so python-telegram-bot raises its real exceptions (RetryAfter, Forbidden, BadRequest,
    Conflict, NetworkError, TimedOut).
    """

    def __init__(
        self,
        *,
        bot_id: int | None = None,
        bot_username: str = "engagebot_test_bot",
        bot_first_name: str = "EngageBot",
        tokens: Collection[str] | None = None,
        max_poll_timeout: float = 10.0,
        validate: bool = True,
    ) -> None:
        """``bot_id`` defaults to the token's numeric prefix; ``tokens`` (if given) are the only ones not answered
        401; ``max_poll_timeout`` caps getUpdates long polling; ``validate`` checks texts against parse_mode and
        inline keyboards (callback_data size) like the real API."""
        super().__init__()
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.max_poll_timeout = max_poll_timeout
        self.validate = validate
        self._bot_id = bot_id
        self._valid_tokens = frozenset(tokens) if tokens is not None else None

        self.requests: list[Record] = []  # every call, getUpdates included
        self.sent: list[Record] = []  # every call but getUpdates
        self.tokens: list[str] = []  # distinct tokens seen, in order
        self.too_many_requests = 0  # 429 answers given
        self.crashes: list[Exception] = []  # exceptions raised by method handlers (answered 500)
        self.webhook: JSONDict | None = None  # url, secret_token, allowed_updates, max_connections, ip_address
        self.allowed_updates: list[str] | None = None  # the bot-wide setting from getUpdates / setWebhook
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}  # (scope JSON, language_code) -> commands
        self.left_chats: list[int | str] = []
        self.blocked_chats: set[str] = set()
        self.files: dict[str, StoredFile] = {}  # file_id -> file
        # Called with each record once it is answered (benchmarks time replies without scanning `requests`).
        self.listeners: list[Callable[[Record], None]] = []

        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._limits: _Limits | None = None
        self._messages: dict[str, dict[int, JSONDict]] = {}
        self._last_message_id: dict[str, int] = {}
        self._chats: dict[str, JSONDict] = {}
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._poll_generation = 0
        self._methods: dict[str, tuple[str, Callable[[JSONDict, str], Any]]] = {}
        builtin: dict[str, Callable[[JSONDict, str], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "leaveChat": self._leave_chat,
            "getChat": self._get_chat,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
        }
        for name, handler in builtin.items():
            self._methods[name.lower()] = (name, handler)
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._file_endpoint, methods=["GET"]),
            ]
        )

    # ---------------------------------------------------------------- lifecycle

    def _on_stop(self) -> None:
        self._notify()  # long polls return at once

    @property
    def base_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_url``/``Bot(base_url=...)``."""
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_file_url``/``Bot(base_file_url=...)``."""
        return f"{self.url}/file/bot"

    # ---------------------------------------------------------------- records

    def calls(self, method: str) -> list[Record]:
        """Every recorded call of ``method`` (any outcome; see each record's ``ok``/``status``)."""
        wanted = method.lower()
        return [record for record in self.requests if record["method"].lower() == wanted]

    def messages_to(self, chat_id: int | str) -> list[str]:
        """Texts of the sendMessage calls to ``chat_id`` that succeeded, in order of arrival."""
        return [
            record["text"]
            for record in self.sent
            if record["method"] == "sendMessage" and record["ok"] and _same_chat(record["chat_id"], chat_id)
        ]

    def clear_records(self) -> None:
        """Forget recorded calls and the 429 count (state such as messages, webhook and updates stays)."""
        self.requests.clear()
        self.sent.clear()
        self.too_many_requests = 0

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:  # noqa: ASYNC109
        """Poll ``predicate`` until it returns something truthy, and return that; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                recent = [(r["method"], r["chat_id"], r["status"]) for r in self.sent[-8:]]
                raise TimeoutError(f"condition not met within {timeout}s; last calls (method, chat, status): {recent}")
            await asyncio.sleep(interval)

    async def wait_for_messages(self, chat_id: int | str, count: int, timeout: float = 5.0) -> list[str]:  # noqa: ASYNC109
        """Wait until at least ``count`` messages were sent to ``chat_id``; return all their texts."""
        await self.wait_for(lambda: len(self.messages_to(chat_id)) >= count, timeout)
        return self.messages_to(chat_id)

    async def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Record]:  # noqa: ASYNC109
        """Wait until ``method`` was answered at least ``count`` times; return those records."""
        await self.wait_for(lambda: len([r for r in self.calls(method) if r["status"]]) >= count, timeout)
        return self.calls(method)

    # ---------------------------------------------------------------- faults and limits

    def fail_next(
        self,
        method: str,
        status: int,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        *,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` ("*" = any; optionally only those to ``chat_id``) with an
        error. 429 always carries ``parameters.retry_after`` (default 1), as the real API does."""
        chat = None if chat_id is None else str(chat_id)
        self._faults.append(_Fault(method.lower(), status, count, retry_after, description, chat))

    def block_chat(self, chat_id: int | str) -> None:
        """Every send/edit/forward/copy to the chat is answered 403 "Forbidden: bot was blocked by the user"."""
        self.blocked_chats.add(str(chat_id))

    def unblock_chat(self, chat_id: int | str) -> None:
        self.blocked_chats.discard(str(chat_id))

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` calls of ``method`` ("*" = any) ``seconds`` before processing them. The call is
        still carried out after the delay even if the client gave up, as a slow real API would."""
        self._delays.append(_Delay(method.lower(), seconds, count))

    def enforce_limits(
        self,
        global_per_second: int | None = 30,
        per_chat_per_second: int | None = 1,
        burst: int = 0,
        *,
        per_group_per_minute: int | None = 20,
        retry_after: int | None = None,
    ) -> None:
        """Answer 429 to sends (send*/edit*/copy*/forward*, not sendChatAction) over the limits, counted in sliding
        windows: ``global_per_second + burst`` and, per chat, ``per_chat_per_second + burst`` per second, and
        ``per_group_per_minute`` per minute for group chats (negative ids). None switches a limit off. The 429's
        ``retry_after`` is when the window frees up (rounded up, at least 1) unless ``retry_after`` is given."""
        self._limits = _Limits(global_per_second, per_chat_per_second, burst, per_group_per_minute, retry_after)

    def disable_limits(self) -> None:
        self._limits = None

    def set_handler(self, method: str, handler: MethodHandler) -> None:
        """Add or replace a method: ``handler(params)`` returns the result (or an awaitable) or raises ApiError."""

        def call(params: JSONDict, token: str) -> Any:
            return handler(params)

        self._methods[method.lower()] = (method, call)

    # ---------------------------------------------------------------- updates

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates (``update_id`` assigned if missing); wakes a waiting long poll."""
        self._assign_update_id(update)
        self._updates.append(update)
        self._notify()
        return update

    def push_updates(self, *updates: JSONDict) -> list[JSONDict]:
        return [self.push_update(update) for update in updates]

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates ``offset`` (delivered or not)."""
        return list(self._updates)

    async def post_webhook(
        self, update: JSONDict, secret: str | None = None, *, url: str | None = None
    ) -> httpx.Response:
        """POST the update as JSON to the webhook set with setWebhook (or ``url``), with the secret header if given."""
        target = url or (self.webhook or {}).get("url")
        if not target:
            raise RuntimeError("no webhook is set: the bot has not called setWebhook (or pass url=)")
        self._assign_update_id(update)
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with httpx.AsyncClient(timeout=10.0) as client:
            return await client.post(target, json=update, headers=headers)

    def add_file(self, file_id: str, content: bytes = b"", file_path: str | None = None) -> StoredFile:
        """Make ``file_id`` known to getFile and downloadable with ``content``."""
        serial = next(self._ids)
        stored = StoredFile(file_id, f"unique-{serial}", file_path or f"documents/file_{serial}", content)
        self.files[file_id] = stored
        return stored

    def bot_commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """The commands set with setMyCommands for ``scope`` (default scope if None) and ``language_code``."""
        return self.commands.get((_scope_key(scope), language_code), [])

    def text_update(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "Ana",
        chat_type: str = "private",
        *,
        language_code: str | None = "en",
    ) -> JSONDict:
        """A ``message`` update with text; a leading ``/command`` gets its bot_command entity."""
        message = self._incoming(chat_id, user_id, first_name, chat_type, language_code, text=text)
        entities = _command_entities(text)
        if entities:
            message["entities"] = entities
        return self._new_update("message", message)

    def group_text_update(
        self, chat_id: int, text: str, user_id: int | None = None, first_name: str = "Ana", *, title: str = "Test group"
    ) -> JSONDict:
        """A text message in a group chat (use a negative chat id, as Telegram does)."""
        self._chats[str(chat_id)] = {"id": chat_id, "type": "group", "title": title}
        return self.text_update(chat_id, text, user_id, first_name, chat_type="group")

    def callback_update(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        user_id: int | None = None,
        *,
        first_name: str = "Ana",
        chat_type: str = "private",
    ) -> JSONDict:
        """A ``callback_query`` from a button of message ``message_id`` (the stored one, keyboard included, if the
        bot sent it through the stand-in)."""
        chat = self._incoming_chat(chat_id, chat_type, first_name)
        stored = self._messages.get(str(chat_id), {}).get(message_id)
        if stored is not None:
            message = json.loads(json.dumps(stored))
        else:
            message = {"message_id": message_id, "from": self._bot_user(), "chat": chat, "date": _now(), "text": ""}
        query = {
            "id": str(next(self._ids)),
            "from": _user(self._default_user(chat_id, user_id, chat_type), first_name, "en"),
            "message": message,
            "chat_instance": str(zlib.crc32(str(chat_id).encode())),
            "data": data,
        }
        return self._new_update("callback_query", query)

    def photo_update(
        self,
        chat_id: int,
        file_id: str,
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Ana",
        chat_type: str = "private",
        content: bytes = b"\xff\xd8\xff\xe0 stand-in jpeg",
    ) -> JSONDict:
        """A photo message; the largest size (last) is ``file_id``, known to getFile with ``content``."""
        stored = self.add_file(file_id, content, f"photos/{file_id}.jpg")
        sizes = [
            {"file_id": f"{file_id}-thumb", "file_unique_id": f"{stored.file_unique_id}-t", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": stored.file_unique_id, "width": 800, "height": 800,
             "file_size": len(content)},
        ]  # fmt: skip
        extra: JSONDict = {"photo": sizes}
        if caption is not None:
            extra["caption"] = caption
        return self._new_update("message", self._incoming(chat_id, user_id, first_name, chat_type, "en", **extra))

    def document_update(
        self,
        chat_id: int,
        file_id: str,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Ana",
        chat_type: str = "private",
        content: bytes = b"%PDF-1.4 stand-in",
    ) -> JSONDict:
        """A document message; ``file_id`` is known to getFile with ``content``."""
        stored = self.add_file(file_id, content, f"documents/{file_name}")
        document = {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content),
        }
        extra: JSONDict = {"document": document}
        if caption is not None:
            extra["caption"] = caption
        return self._new_update("message", self._incoming(chat_id, user_id, first_name, chat_type, "en", **extra))

    def sticker_update(
        self,
        chat_id: int,
        file_id: str = "sticker-1",
        emoji: str = "👍",
        *,
        user_id: int | None = None,
        first_name: str = "Ana",
        chat_type: str = "private",
    ) -> JSONDict:
        """A sticker message."""
        stored = self.add_file(file_id, b"stand-in webp", f"stickers/{file_id}.webp")
        sticker = {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._new_update(
            "message", self._incoming(chat_id, user_id, first_name, chat_type, "en", sticker=sticker)
        )

    def location_update(
        self,
        chat_id: int,
        latitude: float = 38.7223,
        longitude: float = -9.1393,
        *,
        user_id: int | None = None,
        first_name: str = "Ana",
        chat_type: str = "private",
    ) -> JSONDict:
        """A location message."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._new_update(
            "message", self._incoming(chat_id, user_id, first_name, chat_type, "en", location=location)
        )

    def contact_update(
        self,
        chat_id: int,
        phone_number: str,
        *,
        user_id: int | None = None,
        first_name: str = "Ana",
        chat_type: str = "private",
    ) -> JSONDict:
        """A shared contact (what a ``request_contact`` keyboard button sends: the user's own number)."""
        sender = self._default_user(chat_id, user_id, chat_type)
        contact = {"phone_number": phone_number, "first_name": first_name, "user_id": sender}
        return self._new_update(
            "message", self._incoming(chat_id, sender, first_name, chat_type, "en", contact=contact)
        )

    def edited_text_update(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Ana",
        chat_type: str = "private",
    ) -> JSONDict:
        """An ``edited_message`` update: the user changed message ``message_id`` to ``text``."""
        chat = self._incoming_chat(chat_id, chat_type, first_name)
        stored = self._messages.get(str(chat_id), {}).get(message_id)
        message: JSONDict = {
            "message_id": message_id,
            "from": _user(self._default_user(chat_id, user_id, chat_type), first_name, "en"),
            "chat": chat,
            "date": stored["date"] if stored else _now() - 60,
            "edit_date": _now(),
            "text": text,
        }
        entities = _command_entities(text)
        if entities:
            message["entities"] = entities
        self._messages.setdefault(str(chat_id), {})[message_id] = message
        return self._new_update("edited_message", message)

    # ---------------------------------------------------------------- HTTP

    async def _endpoint(self, request: Request) -> Response:
        arrival = time.monotonic()
        token = request.path_params["token"]
        raw_method = request.path_params["method"]
        if token not in self.tokens:
            self.tokens.append(token)
        known = self._methods.get(raw_method.lower())
        method = known[0] if known else raw_method
        parse_error: ApiError | None = None
        try:
            params = await _read_params(request)
        except ValueError as exc:
            params, parse_error = {}, bad_request(str(exc))
        record: Record = {
            **params,
            "method": method,
            "token": token,
            "chat_id": params.get("chat_id"),
            "text": params.get("text"),
            "reply_markup": params.get("reply_markup"),
            "parse_mode": params.get("parse_mode"),
            "params": params,
            "time": arrival,
            "status": None,
            "ok": None,
            "result": None,
            "error": None,
        }
        self.requests.append(record)
        if method != "getUpdates":
            self.sent.append(record)
        try:
            if parse_error is not None:
                raise parse_error
            result = await self._process(method, token, params)
        except ApiError as error:
            status, body = error.status, error.body()
            record["error"] = error.description
        except Exception as exc:  # a bug in a handler: answer like a broken server, keep it for the test to see
            self.crashes.append(exc)
            status, body = 500, ApiError(500).body()
            record["error"] = f"stand-in handler crashed: {exc!r}"
        else:
            result = copy.deepcopy(result)  # a snapshot: later edits of the stored message must not change it
            status, body = 200, {"ok": True, "result": result}
            record["result"] = result
        record["status"], record["ok"] = status, status == 200
        if status == 429:
            self.too_many_requests += 1
        for listener in self.listeners:
            listener(record)
        return JSONResponse(body, status_code=status)

    async def _process(self, method: str, token: str, params: JSONDict) -> Any:
        delay = _take(self._delays, method)
        if delay is not None:
            await self._sleep(delay.seconds)
        if self._valid_tokens is not None and token not in self._valid_tokens:
            raise ApiError(401, "Unauthorized")
        known = self._methods.get(method.lower())
        if known is None:
            raise ApiError(404, "Not Found")
        chat_key = None if params.get("chat_id") is None else str(params["chat_id"])
        fault = _take(self._faults, method, chat_key)
        if fault is not None:
            raise fault.error()
        targets_chat = method.startswith(("send", "edit", "copy", "forward"))
        if targets_chat and chat_key in self.blocked_chats:
            raise ApiError(403, BLOCKED)
        if targets_chat and method != "sendChatAction" and self._limits is not None:
            is_group = isinstance(params.get("chat_id"), int) and params["chat_id"] < 0
            wait = self._limits.check(chat_key, is_group, time.monotonic())
            if wait is not None:
                raise ApiError(429, parameters={"retry_after": wait})
        result = known[1](params, token)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _file_endpoint(self, request: Request) -> Response:
        path = request.path_params["file_path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return Response(stored.content, media_type="application/octet-stream")
        return JSONResponse(ApiError(404, "Not Found").body(), status_code=404)

    # ---------------------------------------------------------------- methods

    def _get_me(self, params: JSONDict, token: str) -> JSONDict:
        return {
            **self._bot_user(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict, token: str) -> list[JSONDict]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # a newer getUpdates terminates the one still waiting
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = min(max(_as_float(params.get("timeout"), 0.0), 0.0), self.max_poll_timeout)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed]
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._deliverable(limit)
            if batch or self._closing.is_set():
                return batch
            if generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    def _set_webhook(self, params: JSONDict, token: str) -> bool:
        url = params.get("url")
        if url is None:
            raise bad_request("parameter url is required")
        if url == "":
            return self._delete_webhook(params, token)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: invalid webhook URL specified")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed]
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": allowed if isinstance(allowed, list) else None,
            "max_connections": _as_int(params.get("max_connections"), 40),
            "ip_address": params.get("ip_address"),
        }
        self._notify()
        return True

    def _delete_webhook(self, params: JSONDict, token: str) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSONDict, token: str) -> JSONDict:
        info: JSONDict = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["ip_address"]:
                info["ip_address"] = self.webhook["ip_address"]
            if self.allowed_updates:
                info["allowed_updates"] = self.allowed_updates
        return info

    def _send_message(self, params: JSONDict, token: str) -> JSONDict:
        chat_id = _require_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        if len(text) > 4096:
            raise bad_request("message is too long")
        self._check_entities(text, params.get("parse_mode"))
        markup = self._check_markup(params.get("reply_markup"))
        return self._bot_message(token, chat_id, markup, text=text)

    def _edit_message_text(self, params: JSONDict, token: str) -> JSONDict | bool:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        if len(text) > 4096:
            raise bad_request("MESSAGE_TOO_LONG")
        self._check_entities(text, params.get("parse_mode"))
        markup = self._check_markup(params.get("reply_markup"))
        message = self._message_to_edit(params, token)
        if message is None:
            return True
        if "text" not in message and any(key in message for key in ("caption", "photo", "document", "sticker")):
            raise bad_request("there is no text in the message to edit")
        if message.get("text") == text and message.get("reply_markup") == _inline(markup):
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        message["text"] = text
        return self._edited(message, markup)

    def _edit_message_reply_markup(self, params: JSONDict, token: str) -> JSONDict | bool:
        markup = self._check_markup(params.get("reply_markup"))
        message = self._message_to_edit(params, token)
        if message is None:
            return True
        if message.get("reply_markup") == _inline(markup):
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        return self._edited(message, markup)

    def _edit_message_caption(self, params: JSONDict, token: str) -> JSONDict | bool:
        caption = params.get("caption")
        if isinstance(caption, str):
            self._check_entities(caption, params.get("parse_mode"))
        markup = self._check_markup(params.get("reply_markup"))
        message = self._message_to_edit(params, token)
        if message is None:
            return True
        if message.get("caption") == caption and message.get("reply_markup") == _inline(markup):
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        if caption is None:
            message.pop("caption", None)
        else:
            message["caption"] = caption
        return self._edited(message, markup)

    def _delete_message(self, params: JSONDict, token: str) -> bool:
        chat_id = _require_chat(params)
        self._messages.get(str(chat_id), {}).pop(_as_int(params.get("message_id"), 0), None)
        return True

    def _answer_callback_query(self, params: JSONDict, token: str) -> bool:
        if not params.get("callback_query_id"):
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        return True

    def _set_my_commands(self, params: JSONDict, token: str) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self.commands[key] = commands
        return True

    def _get_my_commands(self, params: JSONDict, token: str) -> list[JSONDict]:
        return self.bot_commands(params.get("scope"), str(params.get("language_code") or ""))

    def _delete_my_commands(self, params: JSONDict, token: str) -> bool:
        self.commands.pop((_scope_key(params.get("scope")), str(params.get("language_code") or "")), None)
        return True

    def _leave_chat(self, params: JSONDict, token: str) -> bool:
        self.left_chats.append(_require_chat(params))
        return True

    def _get_chat(self, params: JSONDict, token: str) -> JSONDict:
        chat = self._chat(_require_chat(params))
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": _GIFT_TYPES}

    def _send_chat_action(self, params: JSONDict, token: str) -> bool:
        _require_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _get_file(self, params: JSONDict, token: str) -> JSONDict:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    def _send_photo(self, params: JSONDict, token: str) -> JSONDict:
        chat_id = _require_chat(params)
        stored = self._incoming_file(params.get("photo"), "photos", ".jpg")
        sizes = [{"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "width": 800, "height": 800}]
        return self._bot_message(token, chat_id, self._media_checks(params), photo=sizes, **_caption(params))

    def _send_document(self, params: JSONDict, token: str) -> JSONDict:
        chat_id = _require_chat(params)
        upload = params.get("document")
        stored = self._incoming_file(upload, "documents", "")
        document: JSONDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if isinstance(upload, UploadedFile):
            document.update(file_name=upload.filename, mime_type=upload.content_type, file_size=upload.size)
        return self._bot_message(token, chat_id, self._media_checks(params), document=document, **_caption(params))

    # ---------------------------------------------------------------- helpers

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _new_update(self, kind: str, payload: JSONDict) -> JSONDict:
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        return update

    def _assign_update_id(self, update: JSONDict) -> None:
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)

    def _deliverable(self, limit: int) -> list[JSONDict]:
        allowed = set(self.allowed_updates or ())

        def wanted(update: JSONDict) -> bool:
            kind = next((key for key in update if key != "update_id"), "")
            return kind in allowed if allowed else kind not in _OPT_IN_UPDATES

        self._updates = [update for update in self._updates if wanted(update)]  # the API drops the others
        return self._updates[:limit]

    def _bot_user(self, token: str | None = None) -> JSONDict:
        bot_id = self._bot_id
        if bot_id is None:
            prefix = (token or (self.tokens[0] if self.tokens else "")).split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 1_000_000
        return {"id": bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

    def _chat(self, chat_id: int | str) -> JSONDict:
        known = self._chats.get(str(chat_id))
        if known is not None:
            return dict(known)
        if isinstance(chat_id, str):
            return {"id": -1001000000000 - zlib.crc32(chat_id.encode()), "type": "channel", "username": chat_id[1:]}
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": "Test group"}
        return {"id": chat_id, "type": "private"}

    def _incoming_chat(self, chat_id: int, chat_type: str, first_name: str) -> JSONDict:
        key = str(chat_id)
        if key not in self._chats or self._chats[key]["type"] != chat_type:
            chat: JSONDict = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = first_name
            else:
                chat["title"] = "Test group"
            self._chats[key] = chat
        return dict(self._chats[key])

    def _default_user(self, chat_id: int, user_id: int | None, chat_type: str) -> int:
        if user_id is not None:
            return user_id
        return chat_id if chat_type == "private" else 4242

    def _next_message_id(self, chat_key: str) -> int:
        self._last_message_id[chat_key] = self._last_message_id.get(chat_key, 0) + 1
        return self._last_message_id[chat_key]

    def _incoming(
        self,
        chat_id: int,
        user_id: int | None,
        first_name: str,
        chat_type: str,
        language_code: str | None,
        **content: Any,
    ) -> JSONDict:
        chat = self._incoming_chat(chat_id, chat_type, first_name)
        message: JSONDict = {
            "message_id": self._next_message_id(str(chat_id)),
            "from": _user(self._default_user(chat_id, user_id, chat_type), first_name, language_code),
            "chat": chat,
            "date": _now(),
            **content,
        }
        self._messages.setdefault(str(chat_id), {})[message["message_id"]] = message
        return message

    def _bot_message(self, token: str, chat_id: int | str, markup: JSONDict | None, **content: Any) -> JSONDict:
        chat = self._chat(chat_id)
        key = str(chat_id)
        message: JSONDict = {
            "message_id": self._next_message_id(key),
            "from": self._bot_user(token),
            "chat": chat,
            "date": _now(),
            **content,
        }
        inline = _inline(markup)
        if inline is not None:
            message["reply_markup"] = inline
        self._messages.setdefault(key, {})[message["message_id"]] = message
        return message

    def _message_to_edit(self, params: JSONDict, token: str) -> JSONDict | None:
        """The stored message an edit targets (created if unknown, to keep tests lenient); None for inline ones."""
        if params.get("inline_message_id"):
            return None
        chat_id = params.get("chat_id")
        message_id = _as_int(params.get("message_id"), 0)
        if chat_id in (None, "") or not message_id:
            raise bad_request("message identifier is not specified")
        if str(chat_id) in self.blocked_chats:
            raise ApiError(403, BLOCKED)
        chat_messages = self._messages.setdefault(str(chat_id), {})
        message = chat_messages.get(message_id)
        if message is None:
            message = {"message_id": message_id, "from": self._bot_user(token), "chat": self._chat(chat_id)}
            message["date"] = _now()
            chat_messages[message_id] = message
            self._last_message_id[str(chat_id)] = max(self._last_message_id.get(str(chat_id), 0), message_id)
        elif not message.get("from", {}).get("is_bot"):
            raise bad_request("message can't be edited")
        return message

    def _edited(self, message: JSONDict, markup: JSONDict | None) -> JSONDict:
        inline = _inline(markup)
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        message["edit_date"] = _now()
        return message

    def _incoming_file(self, value: Any, folder: str, suffix: str) -> StoredFile:
        if isinstance(value, UploadedFile):
            serial = next(self._ids)
            name = value.filename or f"file_{serial}{suffix}"
            return self.add_file(f"{folder}-{serial}", value.content, f"{folder}/{name}")
        if isinstance(value, str) and value:
            return self.files.get(value) or self.add_file(value, b"", f"{folder}/file_{next(self._ids)}{suffix}")
        raise bad_request("there is no file in the request")

    def _media_checks(self, params: JSONDict) -> JSONDict | None:
        caption = params.get("caption")
        if isinstance(caption, str):
            if len(caption) > 1024:
                raise bad_request("message caption is too long")
            self._check_entities(caption, params.get("parse_mode"))
        return self._check_markup(params.get("reply_markup"))

    def _check_markup(self, markup: Any) -> JSONDict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        keyboard = markup.get("inline_keyboard")
        if keyboard is not None and self.validate:
            if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
                raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
            for button in itertools.chain.from_iterable(keyboard):
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if isinstance(data, str) and not 1 <= len(data.encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def _check_entities(self, text: str, parse_mode: Any) -> None:
        if not self.validate or not isinstance(parse_mode, str):
            return
        mode = parse_mode.lower()
        problem = None
        if mode == "markdownv2":
            problem = _markdown_v2_problem(text)
        elif mode == "html":
            problem = _html_problem(text)
        elif mode != "markdown":
            raise bad_request(f"unsupported parse_mode {parse_mode}")
        if problem:
            raise bad_request(f"can't parse entities: {problem}")


_GIFT_TYPES = {
    "gifts_from_channels": True,
    "unlimited_gifts": True,
    "limited_gifts": True,
    "unique_gifts": True,
    "premium_subscription": True,
}


@pytest.fixture(name="botapi")
async def botapi_fixture() -> AsyncIterator[BotApiStandIn]:
    """Fixture ``botapi``: a running stand-in per test. Enable it with
    ``from tests.support.botapi_standin import botapi_fixture  # noqa: F401`` in a conftest or test module."""
    async with BotApiStandIn() as api:
        yield api


# ---------------------------------------------------------------- module helpers


def _now() -> int:
    return int(time.time())


def _user(user_id: int, first_name: str, language_code: str | None) -> JSONDict:
    user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def _command_entities(text: str) -> list[JSONDict]:
    if not text.startswith("/") or len(text) < 2:
        return []
    command = re.split(r"\s", text, maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


def _same_chat(recorded: Any, wanted: int | str) -> bool:
    return recorded is not None and str(recorded) == str(wanted)


def _require_chat(params: JSONDict) -> int | str:
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise bad_request("chat_id is empty")
    if not isinstance(chat_id, int | str) or isinstance(chat_id, bool):
        raise bad_request("chat not found")
    return chat_id


def _inline(markup: JSONDict | None) -> JSONDict | None:
    """What a Message shows of a reply_markup: only inline keyboards are part of a message."""
    if markup and "inline_keyboard" in markup:
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def _caption(params: JSONDict) -> JSONDict:
    caption = params.get("caption")
    return {"caption": caption} if isinstance(caption, str) and caption else {}


def _scope_key(scope: Any) -> str:
    if not scope or (isinstance(scope, dict) and scope.get("type") == "default"):
        return "default"
    return json.dumps(scope, sort_keys=True)


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid integer value {value!r}") from exc


def _as_float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid number {value!r}") from exc


def _take(rules: list[Any], method: str, chat_key: str | None = None) -> Any:
    """The first rule matching the method (and chat, for faults), consuming one of its uses; None if none."""
    wanted = method.lower()
    for rule in rules:
        if rule.method not in ("*", wanted):
            continue
        if getattr(rule, "chat_id", None) not in (None, chat_key):
            continue
        rule.remaining -= 1
        if rule.remaining <= 0:
            rules.remove(rule)
        return rule
    return None


async def _read_params(request: Request) -> JSONDict:
    """The call's parameters from the query string and a form, multipart or JSON body, values JSON-decoded."""
    raw: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if body:
        if media_type == "application/json":
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise ValueError("can't parse JSON object") from exc
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            raw.update(data)
        elif media_type == "multipart/form-data":
            raw.update(_parse_multipart(body, content_type))
        else:
            raw.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return {key: _decode_value(key, value) for key, value in raw.items()}


def _decode_value(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _STRING_PARAMS or not value:
        return value
    if value[0] in '{["-0123456789' or value in ("true", "false", "null"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, Any] = {}
    for chunk in body.split(b"--" + match.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, found, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not found:
            continue
        content = content.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, value = line.partition(":")
            headers[header.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _disposition_param(disposition, "name")
        if name is None:
            continue
        filename = _disposition_param(disposition, "filename")
        if filename is None:
            fields[name] = content.decode("utf-8")
        else:
            fields[name] = UploadedFile(filename, headers.get("content-type", "application/octet-stream"), content)
    return fields


def _disposition_param(disposition: str, param: str) -> str | None:
    quoted = re.search(rf'(?:^|;)\s*{param}="((?:[^"\\]|\\.)*)"', disposition)
    if quoted:
        return re.sub(r"\\(.)", r"\1", quoted.group(1))
    bare = re.search(rf"(?:^|;)\s*{param}=([^;\s]+)", disposition)
    return bare.group(1) if bare else None


def _markdown_v2_problem(text: str) -> str | None:
    """The first unescaped reserved character outside code, pre and link URLs, worded like the real API."""
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                return f"Can't find end of Pre entity at byte offset {len(text[:i].encode())}"
            i = end + 3
            continue
        if char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                return f"Can't find end of Code entity at byte offset {len(text[:i].encode())}"
            i = end + 1
            continue
        if char == "]" and text.startswith("(", i + 1):
            i += 2
            while i < n and text[i] != ")":
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if char == "!" and text.startswith("[", i + 1):
            i += 1
            continue
        if char in _MDV2_RESERVED:
            return f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        i += 1
    return None


class _TelegramHtmlChecker(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lines = text.splitlines(keepends=True)
        self.stack: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.problem:
            return
        if tag not in _HTML_TAGS:
            self.problem = f'Unsupported start tag "{tag}" at byte offset {self._offset()}'
        else:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.problem:
            return
        if not self.stack:
            self.problem = f"Unexpected end tag at byte offset {self._offset()}"
        elif self.stack[-1] != tag:
            expected = self.stack[-1]
            self.problem = (
                f'Unmatched end tag at byte offset {self._offset()}, expected "</{expected}>", found "</{tag}>"'
            )
        else:
            self.stack.pop()

    def _offset(self) -> int:
        line, column = self.getpos()
        before = "".join(self.lines[: line - 1]) + (self.lines[line - 1][:column] if line <= len(self.lines) else "")
        return len(before.encode())


def _html_problem(text: str) -> str | None:
    """Tags Telegram does not support (``<br>``, ``<p>``, ...) and unbalanced tags, worded like the real API."""
    checker = _TelegramHtmlChecker(text)
    checker.feed(text)
    checker.close()
    if checker.problem:
        return checker.problem
    if checker.stack:
        return f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return None


__all__ = [
    "ApiError",
    "BotApiStandIn",
    "StoredFile",
    "UploadedFile",
    "bad_request",
    "botapi_fixture",
    "serve_asgi",
]
