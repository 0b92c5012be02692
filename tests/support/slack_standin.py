"""A local Slack Web API stand-in over real HTTP, and signed Slack requests into our app, for slack-bolt tests.

Two halves:

* ``SlackApiStandIn`` serves the Web API methods the bot calls (``/api/chat.postMessage`` and friends) on 127.0.0.1,
  records every call, answers in Slack's real shape (``{"ok": true, ...}`` / ``{"ok": false, "error": "..."}``, 429
  with ``Retry-After``, 5xx) and injects faults, outages and delays. Point a slack-bolt app at it with
  ``AsyncWebClient(token="xoxb-...", base_url=api.base_url)``.
* Module functions build what Slack sends to the app's ``/slack/events`` endpoint (event callbacks, block actions,
  view submissions, slash commands, url_verification) and post it signed with the app's signing secret
  (``post_signed``), optionally with a forged signature, a stale timestamp or Slack's retry headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.botapi_standin import ServedStandIn

T = TypeVar("T")
JSONDict = dict[str, Any]
Record = dict[str, Any]
MethodHandler = Callable[[JSONDict], Any]
Body = tuple[str, str]  # (body, content type) of a request Slack sends to the app

TEAM_ID = "T1"
TEAM_DOMAIN = "engagebot-test"
APP_ID = "A1"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
VERIFICATION_TOKEN = "verification-token"  # the deprecated token Slack still puts in payloads; bolt ignores it
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/actions/T1/1/stand-in"  # unreachable: use api.response_url()
JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

DEFAULT_ERRORS: dict[int, str] = {
    429: "ratelimited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "request_timeout",
}
# Arguments slack_sdk (and Slack) carry as JSON strings inside form bodies.
_JSON_ARGS = frozenset({"blocks", "attachments", "view", "metadata", "unfurls", "user_auth_blocks", "options"})
_MAX_TEXT = 40_000
_MAX_MESSAGE_BLOCKS = 50
_MAX_VIEW_BLOCKS = 100
_BOT_TS_BASE = 1_700_000_000_000_000  # microseconds: the first bot message is "1700000000.000100"
_USER_TS_BASE = 1_710_000_000_000_000  # user messages built here live in another range, so they never collide
_serial = itertools.count(1)  # event ids, user message ts, action ts of the module builders


class SlackError(Exception):
    """A Slack error answer; raise it from a handler given to ``SlackApiStandIn.set_handler``.

    Slack answers most errors (``channel_not_found``, ``invalid_auth``...) with HTTP 200 and ``ok: false``; rate
    limits with 429 and ``Retry-After``; outages with 5xx."""

    def __init__(
        self, error: str, status: int = 200, *, retry_after: int | None = None, extra: JSONDict | None = None
    ) -> None:
        self.error = error
        self.status = status
        self.retry_after = retry_after
        self.extra = extra or {}
        super().__init__(error)

    def body(self) -> JSONDict:
        return {"ok": False, "error": self.error, **self.extra}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


@dataclass
class _Fault:
    method: str  # method name, or "*"
    status: int
    remaining: int
    retry_after: int | None
    error: str | None
    channel: str | None

    def answer(self) -> SlackError:
        retry_after = self.retry_after
        if self.status == 429 and retry_after is None:
            retry_after = 1
        error = self.error or DEFAULT_ERRORS.get(self.status, "fatal_error")
        return SlackError(error, self.status, retry_after=retry_after)


@dataclass
class _Delay:
    method: str  # method name, or "*"
    seconds: float
    remaining: int
    channel: str | None = None


class SlackApiStandIn(ServedStandIn):
    """The Slack Web API on 127.0.0.1: records what the bot calls, answers like Slack, injects faults.

    Start it in the test's event loop and point the bolt app's client at it::

        async with SlackApiStandIn(users={"U1": "Ana Lima"}) as api:
            client = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
            app = AsyncApp(client=client, signing_secret=SECRET)
            ...
            post = await api.wait_for_posts("C1", 1)

    Requests are read the way slack_sdk sends them: JSON bodies (chat.*, views.*), form bodies (nested arguments
    such as ``blocks`` and ``view`` as JSON strings) and query strings (auth.test, conversations.open,
    reactions.add, users.info), token from ``Authorization: Bearer`` or a ``token`` argument.

    Channels: ``#name``/``name`` resolve to the id registered with ``channels`` (or a new one); a user id (``U...``)
    resolves to that user's DM channel (``D...``), the same one conversations.open returns. With
    ``strict_channels`` unknown channels answer ``channel_not_found`` and unknown message ts ``message_not_found``.
    """

    def __init__(
        self,
        *,
        users: Mapping[str, str | Mapping[str, Any]] | None = None,
        channels: Mapping[str, str] | None = None,
        strict_channels: bool = False,
        tokens: Collection[str] | None = None,
        team_id: str = TEAM_ID,
        team_name: str = "EngageBot Test",
        team_domain: str = TEAM_DOMAIN,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        bot_name: str = "engagebot",
        app_id: str = APP_ID,
    ) -> None:
        """``users``: the directory for users.info (id -> real name, or a dict of user fields such as ``name``,
        ``real_name``, ``email``, ``tz``, ``is_bot``); ``channels``: known channels, id -> name; ``tokens`` (if
        given): the only tokens not answered ``invalid_auth``."""
        super().__init__()
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.strict_channels = strict_channels
        self._valid_tokens = frozenset(tokens) if tokens is not None else None

        self.requests: list[Record] = []  # every Web API call, in order of arrival
        self.responses: list[Record] = []  # every POST to a response_url made with response_url()
        self.tokens: list[str] = []  # distinct tokens seen, in order
        self.crashes: list[Exception] = []  # exceptions raised by method handlers (answered 500)
        self.users: dict[str, JSONDict] = {}
        self.channels: dict[str, str] = {}  # channel id -> name
        self.views: dict[str, JSONDict] = {}  # view id -> current view (after views.update)

        self._messages: dict[str, dict[str, JSONDict]] = {}  # channel id -> ts -> message
        self._dm_channels: dict[str, str] = {}  # user id -> DM channel id
        self._views_opened: list[JSONDict] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._down = False
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)

        for user_id, entry in (users or {}).items():
            if isinstance(entry, str):
                self.add_user(user_id, entry)
            else:
                self.add_user(user_id, **dict(entry))
        for channel_id, name in (channels or {}).items():
            self.add_channel(channel_id, name)

        self._methods: dict[str, Callable[[JSONDict], Any]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update_message,
            "chat.delete": self._delete_message,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._get_permalink,
            "conversations.open": self._open_conversation,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "views.open": self._open_view,
            "views.push": self._open_view,
            "views.update": self._update_view,
            "views.publish": self._publish_view,
            "users.info": self._user_info,
            "users.lookupByEmail": self._lookup_by_email,
            "reactions.add": self._add_reaction,
            "reactions.remove": self._remove_reaction,
        }
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/hooks/{key:path}", self._hook_endpoint, methods=["POST"]),
            ]
        )

    @property
    def base_url(self) -> str:
        """What to pass to ``AsyncWebClient(base_url=...)``: ``http://127.0.0.1:PORT/api/``."""
        return f"{self.url}/api/"

    # ---------------------------------------------------------------- directory

    def add_user(
        self,
        user_id: str,
        real_name: str | None = None,
        *,
        name: str | None = None,
        email: str | None = None,
        tz: str = "Europe/Lisbon",
        is_bot: bool = False,
        **fields: Any,
    ) -> JSONDict:
        """Add (or replace) a user of the directory users.info and users.lookupByEmail answer from."""
        real_name = real_name or name or user_id
        handle = name or real_name.split()[0].lower()
        profile: JSONDict = {"real_name": real_name, "display_name": handle, "first_name": real_name.split()[0]}
        if email:
            profile["email"] = email
        user: JSONDict = {
            "id": user_id,
            "team_id": self.team_id,
            "name": handle,
            "real_name": real_name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": tz,
            "profile": profile,
            **fields,
        }
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str) -> None:
        """Make a channel known (``#name`` resolves to it; with ``strict_channels`` only known channels work)."""
        self.channels[channel_id] = name.lstrip("#")

    def dm_channel(self, user_id: str) -> str:
        """The DM channel id of the bot with ``user_id`` (what conversations.open returns), ``D`` + the user's id
        without its first letter."""
        if user_id not in self._dm_channels:
            self._dm_channels[user_id] = "D" + user_id[1:]
        return self._dm_channels[user_id]

    def add_message(
        self,
        channel: str,
        text: str,
        user: str,
        ts: str | None = None,
        thread_ts: str | None = None,
        *,
        blocks: list[JSONDict] | None = None,
    ) -> JSONDict:
        """Store a message someone else wrote (for conversations.history/replies, chat.update, reactions)."""
        channel_id = self._resolve(channel, create=True)
        message: JSONDict = {"type": "message", "user": user, "text": text, "ts": ts or self._next_ts()}
        if blocks is not None:
            message["blocks"] = blocks
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        self._store(channel_id, message)
        return copy.deepcopy(message)

    def message(self, channel: str, ts: str) -> JSONDict | None:
        """The stored message (as it is now: updates applied), or None. Pass it to ``block_action(message=...)``."""
        channel_id = self._resolve(channel, create=False)
        stored = self._messages.get(channel_id or channel, {}).get(ts)
        return copy.deepcopy(stored) if stored is not None else None

    # ---------------------------------------------------------------- records

    def calls(self, method: str) -> list[Record]:
        """Every recorded call of ``method`` (any outcome; see each record's ``ok``/``status``/``error``)."""
        return [record for record in self.requests if record["method"] == method]

    def posts(self, channel: str | None = None) -> list[Record]:
        """The chat.postMessage calls that succeeded (all, or to ``channel``: an id, ``#name`` or a user id for
        their DM), in order. Each has ``channel`` (as sent), ``channel_id``, ``text``, ``blocks`` (parsed),
        ``thread_ts`` and the ``ts`` Slack gave it."""
        return [record for record in self.calls("chat.postMessage") if record["ok"] and self._to(record, channel)]

    def last_post(self, channel: str | None = None) -> Record:
        """The latest successful chat.postMessage (to ``channel`` if given); AssertionError if there is none."""
        posts = self.posts(channel)
        if not posts:
            raise AssertionError(f"no chat.postMessage{f' to {channel}' if channel else ''} was recorded")
        return posts[-1]

    def texts(self, channel: str | None = None) -> list[str | None]:
        """Texts of ``posts(channel)``."""
        return [record["text"] for record in self.posts(channel)]

    def dms_to(self, user_id: str) -> list[Record]:
        """Successful posts to the user's DM (sent to the user id or to the D-channel)."""
        return self.posts(user_id)

    def thread(self, channel: str, ts: str) -> list[Record]:
        """Successful posts in ``channel`` replying in the thread of ``ts``."""
        return [record for record in self.posts(channel) if record["thread_ts"] == ts]

    def ephemerals(self, user: str | None = None) -> list[Record]:
        """Successful chat.postEphemeral calls (to ``user`` if given)."""
        return [r for r in self.calls("chat.postEphemeral") if r["ok"] and user in (None, r["params"].get("user"))]

    def updates(self, channel: str | None = None, ts: str | None = None) -> list[Record]:
        """Successful chat.update calls (of ``channel``/``ts`` if given)."""
        return [
            record
            for record in self.calls("chat.update")
            if record["ok"] and self._to(record, channel) and ts in (None, record["params"].get("ts"))
        ]

    @property
    def views_opened(self) -> list[JSONDict]:
        """The views opened with views.open/views.push, as Slack returned them (with ``id``), in order."""
        return copy.deepcopy(self._views_opened)

    def clear_records(self) -> None:
        """Forget recorded calls and responses (messages, views, users and channels stay)."""
        self.requests.clear()
        self.responses.clear()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:  # noqa: ASYNC109
        """Poll ``predicate`` until it returns something truthy, and return that; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                recent = [(r["method"], r["channel"], r["status"], r["error"]) for r in self.requests[-8:]]
                raise TimeoutError(
                    f"condition not met within {timeout}s; last calls (method, channel, status, error): {recent}"
                )
            await asyncio.sleep(interval)

    async def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Record]:  # noqa: ASYNC109
        """Wait until ``method`` was answered at least ``count`` times (any outcome); return those records."""
        await self.wait_for(lambda: len([r for r in self.calls(method) if r["status"]]) >= count, timeout)
        return self.calls(method)

    async def wait_for_posts(self, channel: str | None = None, count: int = 1, timeout: float = 5.0) -> list[Record]:  # noqa: ASYNC109
        """Wait until at least ``count`` posts to ``channel`` (any if None) succeeded; return them all."""

        def enough() -> list[Record] | None:
            posts = self.posts(channel)
            return posts if len(posts) >= count else None

        return await self.wait_for(enough, timeout)

    # ---------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        status: int | None = None,
        count: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
        *,
        channel: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` ("*" = any; only those to ``channel`` if given) with an
        error instead of carrying them out.

        ``status`` 429 answers ``ratelimited`` with ``Retry-After: retry_after`` (default 1); 5xx answers
        ``internal_error``/``service_unavailable``/...; ``error`` alone (status None) is a Slack logical error at
        HTTP 200, e.g. ``fail_next("chat.postMessage", error="not_in_channel")``; status None and no error is 500.
        """
        if status is None:
            status = 200 if error else 500
        self._faults.append(_Fault(method, status, count, retry_after, error, channel))

    def down(self) -> None:
        """Every call (and response_url POST) answers 503 ``service_unavailable`` until ``up()``."""
        self._down = True

    def up(self) -> None:
        self._down = False

    @property
    def is_down(self) -> bool:
        return self._down

    def delay_next(self, method: str, seconds: float, count: int = 1, *, channel: str | None = None) -> None:
        """Hold the next ``count`` calls of ``method`` ("*" = any) ``seconds`` before answering them. The call is
        still carried out after the delay even if the client gave up, as a slow real API would."""
        self._delays.append(_Delay(method, seconds, count, channel))

    def set_handler(self, method: str, handler: MethodHandler) -> None:
        """Add or replace a method: ``handler(params)`` returns the answer's fields (or an awaitable of them; ``ok``
        is added) or raises SlackError."""
        self._methods[method] = handler

    def response_url(self, key: str | None = None) -> str:
        """A response_url served here (for ``block_action``/``slash_command``): what the app POSTs to it (bolt's
        ``respond``) lands in ``responses`` with this ``key``."""
        return f"{self.url}/hooks/{key or f'r{next(self._ids)}'}"

    def responses_to(self, url_or_key: str) -> list[JSONDict]:
        """Bodies POSTed to that response_url (or key), in order."""
        key = url_or_key.rsplit("/hooks/", 1)[-1]
        return [record["body"] for record in self.responses if record["key"] == key and record["ok"]]

    # ---------------------------------------------------------------- HTTP

    async def _endpoint(self, request: Request) -> Response:
        arrival = time.monotonic()
        method = request.path_params["method"]
        parse_error: SlackError | None = None
        try:
            params, content_type = await _read_params(request)
        except SlackError as exc:
            params, content_type, parse_error = {}, "", exc
        token = _token(request, params)
        if token and token not in self.tokens:
            self.tokens.append(token)
        record: Record = {
            **params,
            "method": method,
            "http_method": request.method,
            "token": token,
            "channel": params.get("channel"),
            "text": params.get("text"),
            "blocks": params.get("blocks"),
            "thread_ts": params.get("thread_ts"),
            "params": params,
            "content_type": content_type,
            "time": arrival,
            "status": None,
            "ok": None,
            "error": None,
            "response": None,
        }
        self.requests.append(record)
        headers: dict[str, str] = {}
        try:
            if parse_error is not None:
                raise parse_error
            result = await self._process(method, token, params, record)
        except SlackError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers()
            record["error"] = exc.error
        except Exception as exc:  # a bug in a handler: answer like a broken server, keep it for the test to see
            self.crashes.append(exc)
            status, body = 500, SlackError("internal_error", 500).body()
            record["error"] = f"stand-in handler crashed: {exc!r}"
        else:
            status, body = 200, {"ok": True, **copy.deepcopy(result)}
        record["status"], record["ok"], record["response"] = status, status == 200 and body["ok"], body
        return JSONResponse(body, status_code=status, headers=headers)

    async def _process(self, method: str, token: str | None, params: JSONDict, record: Record) -> JSONDict:
        channel = params.get("channel")
        delay = _take(self._delays, method, channel)
        if delay is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay.seconds)
        if self._down:
            raise SlackError("service_unavailable", 503)
        fault = _take(self._faults, method, channel)
        if fault is not None:
            raise fault.answer()
        handler = self._methods.get(method)
        if handler is None:
            raise SlackError("unknown_method", extra={"req_method": method})
        if not token:
            raise SlackError("not_authed")
        if self._valid_tokens is not None and token not in self._valid_tokens:
            raise SlackError("invalid_auth")
        result = handler(params)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, dict):
            # What the tests look for on posts: where it went and the ts it got.
            if "ts" in result and isinstance(result.get("channel"), str):
                record["ts"], record["channel_id"] = result["ts"], result["channel"]
            return result
        return {}

    async def _hook_endpoint(self, request: Request) -> Response:
        key = request.path_params["key"]
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else {}
        except ValueError:
            body = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        record: Record = {"key": key, "url": str(request.url), "body": body, "time": time.monotonic()}
        self.responses.append(record)
        error: SlackError | None = None
        if self._down:
            error = SlackError("service_unavailable", 503)
        elif (fault := _take(self._faults, "response_url", None)) is not None:
            error = fault.answer()
        if error is not None:
            record["status"], record["ok"] = error.status, False
            return PlainTextResponse(error.error, status_code=error.status, headers=error.headers())
        record["status"], record["ok"] = 200, True
        return PlainTextResponse("ok")

    # ---------------------------------------------------------------- methods

    def _api_test(self, params: JSONDict) -> JSONDict:
        return {"args": {k: v for k, v in params.items() if k != "token"}}

    def _auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _post_message(self, params: JSONDict) -> JSONDict:
        channel_id = self._channel_arg(params)
        text = self._content(params, _MAX_MESSAGE_BLOCKS)
        thread_ts = params.get("thread_ts")
        message = self._bot_message(text, params)
        if thread_ts:
            thread_ts = str(thread_ts)
            message["thread_ts"] = thread_ts
            parent = self._messages.get(channel_id, {}).get(thread_ts)
            if parent is None and self.strict_channels:
                raise SlackError("thread_not_found")
            if parent is not None:
                parent.setdefault("thread_ts", thread_ts)
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
        self._store(channel_id, message)
        return {"channel": channel_id, "ts": message["ts"], "message": message}

    def _update_message(self, params: JSONDict) -> JSONDict:
        channel_id = self._channel_arg(params)
        message = self._stored_message(channel_id, params.get("ts"))
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        text = self._content(params, _MAX_MESSAGE_BLOCKS, require=False)
        if "text" in params:
            message["text"] = text
        for key in ("blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": channel_id, "ts": message["ts"], "text": message.get("text", ""), "message": message}

    def _delete_message(self, params: JSONDict) -> JSONDict:
        channel_id = self._channel_arg(params)
        message = self._stored_message(channel_id, params.get("ts"))
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_delete_message")
        self._messages[channel_id].pop(message["ts"], None)
        return {"channel": channel_id, "ts": message["ts"]}

    def _post_ephemeral(self, params: JSONDict) -> JSONDict:
        self._channel_arg(params)
        user = params.get("user")
        if not user:
            raise SlackError("user_not_in_channel")
        if self.strict_channels and user not in self.users:
            raise SlackError("user_not_in_channel")
        self._content(params, _MAX_MESSAGE_BLOCKS)
        # Ephemeral messages are not stored: only the user sees them and they cannot be fetched or updated.
        return {"message_ts": self._next_ts()}

    def _get_permalink(self, params: JSONDict) -> JSONDict:
        channel_id = self._channel_arg(params)
        ts = str(params.get("message_ts") or "")
        if not ts or (self.strict_channels and ts not in self._messages.get(channel_id, {})):
            raise SlackError("message_not_found")
        return {
            "channel": channel_id,
            "permalink": f"https://{self.team_domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}",
        }

    def _open_conversation(self, params: JSONDict) -> JSONDict:
        if params.get("channel"):
            channel_id = self._channel_arg(params)
            return {"no_op": True, "already_open": True, "channel": {"id": channel_id}}
        users = params.get("users")
        if isinstance(users, list):
            users = ",".join(str(user) for user in users)
        ids = [user.strip() for user in str(users or "").split(",") if user.strip()]
        if not ids:
            raise SlackError("users_list_not_supplied")
        if len(ids) > 8:
            raise SlackError("too_many_users")
        for user_id in ids:
            if self.strict_channels and user_id not in self.users:
                raise SlackError("user_not_found")
        if len(ids) == 1:
            already = ids[0] in self._dm_channels
            channel = {"id": self.dm_channel(ids[0])}
        else:
            already = False
            channel = {"id": f"G{next(self._ids):07d}"}
            self.add_channel(channel["id"], "mpdm-" + "--".join(ids))
        return {"no_op": already, "already_open": already, "channel": channel}

    def _history(self, params: JSONDict) -> JSONDict:
        channel_id = self._channel_arg(params)
        messages = [m for m in self._messages.get(channel_id, {}).values() if m.get("thread_ts") in (None, m["ts"])]
        messages.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
        limit = _as_int(params.get("limit"), 100)
        return {
            "messages": messages[:limit],
            "has_more": len(messages) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _replies(self, params: JSONDict) -> JSONDict:
        channel_id = self._channel_arg(params)
        ts = str(params.get("ts") or "")
        stored = self._messages.get(channel_id, {})
        if ts not in stored:
            raise SlackError("thread_not_found")
        thread = [m for m in stored.values() if m["ts"] == ts or m.get("thread_ts") == ts]
        thread.sort(key=lambda m: _ts_key(m["ts"]))
        limit = _as_int(params.get("limit"), 1000)
        return {"messages": thread[:limit], "has_more": len(thread) > limit, "response_metadata": {"next_cursor": ""}}

    def _open_view(self, params: JSONDict) -> JSONDict:
        if not params.get("trigger_id") and not params.get("interactivity_pointer"):
            raise SlackError("invalid_arguments", extra={"response_metadata": {"messages": ["trigger_id missing"]}})
        view = self._new_view(params.get("view"), kinds=("modal",))
        self._views_opened.append(copy.deepcopy(view))
        return {"view": view}

    def _update_view(self, params: JSONDict) -> JSONDict:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        current = self.views.get(str(view_id)) if view_id else None
        if external_id and current is None:
            current = next((v for v in self.views.values() if v.get("external_id") == external_id), None)
        if current is None:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._new_view(params.get("view"), kinds=("modal",), view_id=current["id"])
        view["previous_view_id"], view["root_view_id"] = current.get("previous_view_id"), current["root_view_id"]
        self.views[view["id"]] = view
        return {"view": view}

    def _publish_view(self, params: JSONDict) -> JSONDict:
        user_id = params.get("user_id")
        if not user_id:
            raise SlackError("invalid_arguments")
        if self.strict_channels and user_id not in self.users:
            raise SlackError("user_not_found")
        return {"view": self._new_view(params.get("view"), kinds=("home",))}

    def _user_info(self, params: JSONDict) -> JSONDict:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def _lookup_by_email(self, params: JSONDict) -> JSONDict:
        email = str(params.get("email") or "").lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email and email:
                return {"user": user}
        raise SlackError("users_not_found")

    def _add_reaction(self, params: JSONDict) -> JSONDict:
        message, name = self._reaction_target(params)
        reactions: list[JSONDict] = message.setdefault("reactions", [])
        existing = next((r for r in reactions if r["name"] == name), None)
        if existing is not None and self.bot_user_id in existing["users"]:
            raise SlackError("already_reacted")
        if existing is None:
            reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        else:
            existing["users"].append(self.bot_user_id)
            existing["count"] += 1
        return {}

    def _remove_reaction(self, params: JSONDict) -> JSONDict:
        message, name = self._reaction_target(params)
        reactions: list[JSONDict] = message.get("reactions", [])
        existing = next((r for r in reactions if r["name"] == name and self.bot_user_id in r["users"]), None)
        if existing is None:
            raise SlackError("no_reaction")
        existing["users"].remove(self.bot_user_id)
        existing["count"] -= 1
        if not existing["users"]:
            reactions.remove(existing)
        return {}

    # ---------------------------------------------------------------- internals

    def _next_ts(self) -> str:
        return _format_ts(_BOT_TS_BASE + 100 * next(self._ts))

    def _resolve(self, channel: str, *, create: bool) -> str | None:
        """The channel id for an id, ``#name``, name or user id; None if unknown (and not ``create``)."""
        if _is_user_id(channel):
            return self.dm_channel(channel) if create else self._dm_channels.get(channel, "D" + channel[1:])
        name = channel.removeprefix("#")
        for channel_id, known in self.channels.items():
            if known == name or channel_id == channel:
                return channel_id
        if channel in self._dm_channels.values() or channel in self._messages:
            return channel
        if not create:
            return None
        if channel.startswith("#") or not channel[:1].isupper():
            channel_id = f"C{next(self._ids):07d}"
            self.add_channel(channel_id, name)
            return channel_id
        return channel

    def _channel_arg(self, params: JSONDict) -> str:
        channel = params.get("channel")
        if not channel or not isinstance(channel, str):
            raise SlackError("channel_not_found")
        if self.strict_channels and not self._known_channel(channel):
            raise SlackError("channel_not_found")
        return self._resolve(channel, create=True) or channel

    def _content(self, params: JSONDict, max_blocks: int, *, require: bool = True) -> str:
        text = params.get("text")
        text = "" if text is None else str(text)
        blocks = params.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, list) or not all(isinstance(b, dict) and b.get("type") for b in blocks):
                raise SlackError("invalid_blocks")
            if len(blocks) > max_blocks:
                raise SlackError("invalid_blocks")
        if require and not text.strip() and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        if len(text) > _MAX_TEXT:
            raise SlackError("msg_too_long")
        return text

    def _bot_message(self, text: str, params: JSONDict) -> JSONDict:
        message: JSONDict = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text,
            "ts": self._next_ts(),
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                message[key] = params[key]
        return message

    def _store(self, channel_id: str, message: JSONDict) -> None:
        self._messages.setdefault(channel_id, {})[message["ts"]] = message

    def _stored_message(self, channel_id: str, ts: Any) -> JSONDict:
        if not ts:
            raise SlackError("message_not_found")
        ts = str(ts)
        stored = self._messages.setdefault(channel_id, {})
        if ts not in stored:
            if self.strict_channels:
                raise SlackError("message_not_found")
            # Lenient: a message the test never showed us is taken to be one of the bot's.
            stored[ts] = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "text": "", "ts": ts}
        return stored[ts]

    def _reaction_target(self, params: JSONDict) -> tuple[JSONDict, str]:
        name = str(params.get("name") or "").strip(":")
        if not name:
            raise SlackError("invalid_name")
        channel_id = self._channel_arg(params)
        ts = params.get("timestamp")
        if not ts:
            raise SlackError("no_item_specified")
        ts = str(ts)
        stored = self._messages.setdefault(channel_id, {})
        if ts not in stored:
            if self.strict_channels:
                raise SlackError("message_not_found")
            stored[ts] = {"type": "message", "user": "", "text": "", "ts": ts}
        return stored[ts], name

    def _new_view(self, view: Any, *, kinds: tuple[str, ...], view_id: str | None = None) -> JSONDict:
        if not isinstance(view, dict) or view.get("type") not in kinds:
            raise SlackError("invalid_arguments", extra={"response_metadata": {"messages": ["invalid view type"]}})
        blocks = view.get("blocks", [])
        if not isinstance(blocks, list) or len(blocks) > _MAX_VIEW_BLOCKS:
            raise SlackError("invalid_arguments", extra={"response_metadata": {"messages": ["invalid blocks"]}})
        serial = next(self._ids)
        new_id = view_id or f"V{serial:07d}"
        stored: JSONDict = {
            "id": new_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"1700000000.{serial:08d}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": new_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[new_id] = stored
        return stored

    def _known_channel(self, channel: str) -> bool:
        if _is_user_id(channel):
            return channel in self.users or channel in self._dm_channels
        if channel.startswith("D"):
            dms = {self._dm_channels.get(user_id, "D" + user_id[1:]) for user_id in self.users}
            if channel in dms or channel in self._dm_channels.values():
                return True
        name = channel.removeprefix("#")
        return channel in self.channels or name in self.channels.values()

    def _to(self, record: Record, channel: str | None) -> bool:
        if channel is None:
            return True
        if record["channel"] == channel:
            return True
        resolved = self._resolve(channel, create=False)
        return resolved is not None and record.get("channel_id") == resolved


@pytest.fixture(name="slack_api")
async def slack_api_fixture() -> AsyncIterator[SlackApiStandIn]:
    """Fixture ``slack_api``: a running stand-in per test. Enable it with
    ``from tests.support.slack_standin import slack_api_fixture  # noqa: F401`` in a conftest or test module."""
    async with SlackApiStandIn() as api:
        yield api


# ---------------------------------------------------------------- requests Slack sends to the app


def signed_headers(
    body: str, secret: str, timestamp: int | None = None, *, content_type: str | None = None
) -> dict[str, str]:
    """Slack's signature headers for ``body`` (``timestamp`` defaults to now), plus a Content-Type (JSON if the body
    starts with ``{``, else form-encoded, unless given)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(stamp), body=body)
    if signature is None:
        raise ValueError("could not sign the body")
    if content_type is None:
        content_type = JSON_CONTENT_TYPE if body.lstrip().startswith("{") else FORM_CONTENT_TYPE
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": signature, "Content-Type": content_type}


async def post_signed(
    url: str,
    body: str,
    content_type: str,
    secret: str,
    *,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    forge: bool = False,
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """POST ``body`` to the app as Slack does: signed with ``secret`` at ``timestamp`` (now by default), with
    ``X-Slack-Retry-Num``/``X-Slack-Retry-Reason`` if ``retry_num`` is given. ``forge`` signs with another secret
    (the app must answer 401). Use ``client`` to reuse a connection pool; else a short-lived one is made."""
    signing_secret = f"forged-{secret}" if forge else secret
    headers = signed_headers(body, signing_secret, timestamp, content_type=content_type)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    if client is not None:
        return await client.post(url, content=body.encode(), headers=headers)
    async with httpx.AsyncClient(timeout=10.0) as own:
        return await own.post(url, content=body.encode(), headers=headers)


def url_verification(challenge: str) -> Body:
    """The request Slack sends when the Events API request URL is saved."""
    body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    return json.dumps(body), JSON_CONTENT_TYPE


def event_callback(
    event: JSONDict,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    *,
    event_time: int | None = None,
    bot_user_id: str = BOT_USER_ID,
) -> Body:
    """An Events API ``event_callback`` envelope around ``event`` (a unique ``event_id`` unless given)."""
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_serial):08d}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-stand-in-{team_id}",
    }
    return json.dumps(envelope), JSON_CONTENT_TYPE


def new_user_ts() -> str:
    """A fresh message ts for a user's message (a range bot messages of the stand-in never use)."""
    return _format_ts(_USER_TS_BASE + next(_serial))


def message_event(
    channel: str,
    user: str,
    text: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    *,
    channel_type: str | None = None,
    team_id: str = TEAM_ID,
    event_id: str | None = None,
) -> Body:
    """A user's ``message`` event (``channel_type`` from the id: ``D`` im, ``G`` group, else channel)."""
    ts = ts or new_user_ts()
    event: JSONDict = {
        "type": "message",
        "client_msg_id": f"00000000-0000-4000-8000-{next(_serial):012d}",
        "text": text,
        "user": user,
        "ts": ts,
        "team": team_id,
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type or _channel_type(channel),
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = BOT_USER_ID
    return event_callback(event, event_id, team_id)


def app_mention_event(
    channel: str,
    user: str,
    text: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    *,
    team_id: str = TEAM_ID,
    event_id: str | None = None,
) -> Body:
    """An ``app_mention`` event (``text`` should contain ``<@UBOT>``)."""
    ts = ts or new_user_ts()
    event: JSONDict = {"type": "app_mention", "user": user, "text": text, "ts": ts, "team": team_id,
                       "channel": channel, "event_ts": ts}  # fmt: skip
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event_callback(event, event_id, team_id)


def block_action(
    user_id: str,
    action_id: str,
    value: str,
    channel: str | None,
    message_ts: str | None,
    trigger_id: str = "t1",
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    block_id: str | None = None,
    text: str = "Button",
    message: JSONDict | None = None,
    view: JSONDict | None = None,
    state_values: Mapping[str, Mapping[str, Any]] | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = TEAM_ID,
) -> Body:
    """A button click (``block_actions``, form-encoded ``payload=``) on the message ``message_ts`` of ``channel``,
    or, given ``view``, inside that modal. ``message`` (e.g. ``api.message(channel, ts)``) is sent as the clicked
    message; ``block_id`` defaults to the block holding ``action_id`` in it, else ``"actions"``."""
    action: JSONDict = {
        "action_id": action_id,
        "block_id": block_id or _block_id_of(action_id, message, view),
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": _action_ts(),
    }
    return _block_actions(user_id, action, channel, message_ts, trigger_id, response_url, message, view,
                          state_values, user_name, channel_name, team_id)  # fmt: skip


def static_select_action(
    user_id: str,
    action_id: str,
    selected_value: str,
    channel: str | None,
    message_ts: str | None,
    trigger_id: str = "t1",
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    selected_text: str | None = None,
    block_id: str | None = None,
    message: JSONDict | None = None,
    view: JSONDict | None = None,
    state_values: Mapping[str, Mapping[str, Any]] | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = TEAM_ID,
) -> Body:
    """A choice in a ``static_select`` menu (``block_actions``); see ``block_action`` for the rest."""
    option = {"text": {"type": "plain_text", "text": selected_text or selected_value, "emoji": True},
              "value": selected_value}  # fmt: skip
    action: JSONDict = {
        "type": "static_select",
        "action_id": action_id,
        "block_id": block_id or _block_id_of(action_id, message, view),
        "selected_option": option,
        "placeholder": {"type": "plain_text", "text": "Select an item", "emoji": True},
        "action_ts": _action_ts(),
    }
    return _block_actions(user_id, action, channel, message_ts, trigger_id, response_url, message, view,
                          state_values, user_name, channel_name, team_id)  # fmt: skip


def users_select_action(
    user_id: str,
    action_id: str,
    selected_user: str,
    channel: str | None,
    message_ts: str | None,
    trigger_id: str = "t1",
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    block_id: str | None = None,
    message: JSONDict | None = None,
    view: JSONDict | None = None,
    state_values: Mapping[str, Mapping[str, Any]] | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = TEAM_ID,
) -> Body:
    """A pick in a ``users_select`` menu (``block_actions``); see ``block_action`` for the rest."""
    action: JSONDict = {
        "type": "users_select",
        "action_id": action_id,
        "block_id": block_id or _block_id_of(action_id, message, view),
        "selected_user": selected_user,
        "action_ts": _action_ts(),
    }
    return _block_actions(user_id, action, channel, message_ts, trigger_id, response_url, message, view,
                          state_values, user_name, channel_name, team_id)  # fmt: skip


def view_submission(
    user_id: str,
    callback_id: str,
    private_metadata: str | None = None,
    state_values: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    view: JSONDict | None = None,
    trigger_id: str = "t1",
    response_urls: list[JSONDict] | None = None,
    user_name: str | None = None,
    team_id: str = TEAM_ID,
) -> Body:
    """A modal submitted (``view_submission``, form-encoded ``payload=``). ``state_values`` is
    ``{block_id: {action_id: value}}``: a string value stands for a ``plain_text_input``, a dict is sent as is
    (e.g. ``{"type": "static_select", "selected_option": {...}}``). ``view`` (e.g. ``api.views_opened[-1]``)
    supplies the id, blocks, title and metadata of the submitted modal."""
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _interaction_user(user_id, user_name, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": _submitted_view(view, callback_id, private_metadata, state_values, team_id),
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _form_payload(payload)


def view_closed(
    user_id: str,
    callback_id: str,
    private_metadata: str | None = None,
    *,
    view: JSONDict | None = None,
    user_name: str | None = None,
    team_id: str = TEAM_ID,
) -> Body:
    """A modal dismissed with ``notify_on_close`` set (``view_closed``)."""
    payload = {
        "type": "view_closed",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _interaction_user(user_id, user_name, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "view": _submitted_view(view, callback_id, private_metadata, None, team_id),
        "is_cleared": False,
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _form_payload(payload)


def slash_command(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    *,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = TEAM_ID,
    trigger_id: str = "t1",
    response_url: str = DEFAULT_RESPONSE_URL,
) -> Body:
    """A slash command, form-encoded with the fields Slack sends."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name or _channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    return urlencode(fields), FORM_CONTENT_TYPE


# ---------------------------------------------------------------- module helpers


def _is_user_id(channel: str) -> bool:
    return channel[:1] in ("U", "W") and channel[1:].isalnum() and channel.upper() == channel


def _format_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    return int(seconds or 0), int(fraction or 0)


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _channel_type(channel: str) -> str:
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


def _channel_name(channel: str) -> str:
    return {"D": "directmessage", "G": "privategroup"}.get(channel[:1], "general")


def _interaction_user(user_id: str, user_name: str | None, team_id: str) -> JSONDict:
    name = user_name or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _state_values(values: Mapping[str, Mapping[str, Any]] | None) -> JSONDict:
    state: JSONDict = {}
    for block_id, actions in (values or {}).items():
        state[block_id] = {
            action_id: {"type": "plain_text_input", "value": value} if isinstance(value, str) else dict(value)
            for action_id, value in actions.items()
        }
    return state


def _block_id_of(action_id: str, message: JSONDict | None, view: JSONDict | None) -> str:
    for source in (message, view):
        for block in (source or {}).get("blocks") or []:
            elements = list(block.get("elements") or [])
            if isinstance(block.get("accessory"), dict):
                elements.append(block["accessory"])
            if isinstance(block.get("element"), dict):
                elements.append(block["element"])
            if any(isinstance(e, dict) and e.get("action_id") == action_id for e in elements):
                return str(block.get("block_id", "actions"))
    return "actions"


def _submitted_view(
    view: JSONDict | None,
    callback_id: str,
    private_metadata: str | None,
    state_values: Mapping[str, Mapping[str, Any]] | None,
    team_id: str,
) -> JSONDict:
    base = copy.deepcopy(view) if view is not None else {}
    view_id = base.get("id") or f"V{next(_serial):07d}"
    submitted: JSONDict = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": "",
        "callback_id": callback_id,
        "hash": f"1700000000.{next(_serial):08d}",
        "title": {"type": "plain_text", "text": "Modal", "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": BOT_ID,
    }
    submitted.update({key: value for key, value in base.items() if value is not None})
    submitted["callback_id"] = callback_id
    if private_metadata is not None:
        submitted["private_metadata"] = private_metadata
    submitted["state"] = {"values": _state_values(state_values)}
    return submitted


def _block_actions(
    user_id: str,
    action: JSONDict,
    channel: str | None,
    message_ts: str | None,
    trigger_id: str,
    response_url: str,
    message: JSONDict | None,
    view: JSONDict | None,
    state_values: Mapping[str, Mapping[str, Any]] | None,
    user_name: str | None,
    channel_name: str | None,
    team_id: str,
) -> Body:
    payload: JSONDict = {
        "type": "block_actions",
        "user": _interaction_user(user_id, user_name, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": _state_values(state_values)},
        "actions": [action],
    }
    if view is not None:
        submitted = _submitted_view(view, str(view.get("callback_id", "")), None, state_values, team_id)
        payload["container"] = {"type": "view", "view_id": submitted["id"]}
        payload["view"] = submitted
        payload["response_urls"] = []
    else:
        if channel is None or message_ts is None:
            raise ValueError("a message action needs channel and message_ts (or pass view=)")
        shown = copy.deepcopy(message) if message is not None else None
        if shown is None:
            shown = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "text": "",
                     "team": team_id}  # fmt: skip
        shown["ts"] = message_ts
        payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                "is_ephemeral": False}  # fmt: skip
        payload["channel"] = {"id": channel, "name": channel_name or _channel_name(channel)}
        payload["message"] = shown
        payload["response_url"] = response_url
    return _form_payload(payload)


def _form_payload(payload: JSONDict) -> Body:
    return urlencode({"payload": json.dumps(payload)}), FORM_CONTENT_TYPE


def _token(request: Request, params: JSONDict) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    token = params.get("token")
    return str(token) if token else None


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError) as exc:
        raise SlackError("invalid_arguments") from exc


def _take(rules: list[Any], method: str, channel: Any) -> Any:
    """The first rule matching the method (and channel, if the rule has one), consuming one use; None if none."""
    for rule in rules:
        if rule.method not in ("*", method):
            continue
        if rule.channel is not None and rule.channel != channel:
            continue
        rule.remaining -= 1
        if rule.remaining <= 0:
            rules.remove(rule)
        return rule
    return None


async def _read_params(request: Request) -> tuple[JSONDict, str]:
    """The call's arguments from the query string and a form or JSON body; nested form arguments JSON-decoded."""
    params: JSONDict = dict(request.query_params)
    body = await request.body()
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if body:
        if media_type == JSON_CONTENT_TYPE:
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise SlackError("invalid_json") from exc
            if not isinstance(data, dict):
                raise SlackError("invalid_json")
            params.update(data)
        elif media_type in ("", FORM_CONTENT_TYPE):
            try:
                params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
            except (UnicodeDecodeError, ValueError) as exc:
                raise SlackError("invalid_form_data") from exc
        else:
            raise SlackError("invalid_form_data")  # multipart uploads (files.*) are not served here
    for key in _JSON_ARGS & params.keys():
        value = params[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                params[key] = json.loads(value)
            except ValueError as exc:
                raise SlackError("invalid_blocks_format" if key == "blocks" else "invalid_arguments") from exc
    return params, media_type


__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_RESPONSE_URL",
    "TEAM_ID",
    "Body",
    "SlackApiStandIn",
    "SlackError",
    "app_mention_event",
    "block_action",
    "event_callback",
    "message_event",
    "new_user_ts",
    "post_signed",
    "signed_headers",
    "slack_api_fixture",
    "slash_command",
    "static_select_action",
    "url_verification",
    "users_select_action",
    "view_closed",
    "view_submission",
]
