"""Slack adapter: a slack-bolt AsyncApp (Socket Mode when SLACK_APP_TOKEN is set, else signed HTTP requests on
POST /slack/events), its listeners, and the StaffDesk that posts ticket notices."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.core import Core
from handlers.lastresort import where
from handlers.ratelimit import RefusalLog
from handlers.slack import actions, commands, relay, shape, signature
from handlers.slack.background import Drainer
from handlers.slack.dedupe import IgnoreRepeatedEvents, Seen
from handlers.slack.desk import SlackDesk

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
API_TIMEOUT = 10  # seconds for one Web API call; a slower Slack counts as down and the outbox retries


class SlackUnreachable(RuntimeError):
    """auth.test failed while a request came in: bolt answers 500, so Slack delivers the request again."""


class SlackAdapter:
    def __init__(self, core: Core):
        settings = core.settings
        secrets = settings.secrets
        if secrets.slack_bot_token is None:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        self.core = core
        self._token = secrets.slack_bot_token.get_secret_value()
        self.client = AsyncWebClient(token=self._token, base_url=settings.slack.api_url, timeout=API_TIMEOUT)
        self.desk = SlackDesk(self.client, settings.staff)
        self.drainer = Drainer(core.dispatcher.drain)
        self.seen = Seen()
        self._identity: dict[str, Any] | None = None
        self._socket: Any = None
        self._starting: asyncio.Task[None] | None = None
        if secrets.slack_app_token is not None:
            self.mode = "socket"
        elif secrets.slack_signing_secret is not None:
            self.mode = "http"
        else:
            self.mode = "post-only"  # notices go out; buttons, thread replies and /engage need one of the two
        self.app: AsyncApp | None = None
        if self.mode != "post-only":
            self.app = self._build_app()

    def _authorize_function(self) -> Callable[[], Awaitable[AuthorizeResult]]:
        # A plain function: bolt passes arguments by the names it sees in the signature (a method's `self` too).
        async def authorize() -> AuthorizeResult:
            return AuthorizeResult.from_auth_test_response(auth_test_response=await self.identity(),
                                                           bot_token=self._token)  # fmt: skip

        return authorize

    def _build_app(self) -> AsyncApp:
        secret = self.core.settings.secrets.slack_signing_secret
        app = AsyncApp(
            # Without a token of its own: each request gets the bot token from authorize().
            client=AsyncWebClient(base_url=self.client.base_url, timeout=API_TIMEOUT),
            authorize=self._authorize_function(),
            signing_secret=secret.get_secret_value() if secret else "",
            # Socket Mode messages are not signed; HTTP requests always are, and bolt refuses bad or old ones (401).
            request_verification_enabled=self.mode == "http",
            # Ack first, work after: Slack wants an answer within 3 seconds.
            process_before_response=False,
            # Requests no listener takes go to the error handler (one line) instead of bolt's warning, which prints
            # about ten lines with example code.
            raise_error_for_unhandled_request=True,
        )
        app.error(_log_error)
        app.use(IgnoreRepeatedEvents(self.seen))
        actions.register(app, self.core, self.drainer.kick)
        relay.register(app, self.core, self.drainer.kick, self.seen)
        commands.register(app, self.core)
        return app

    async def identity(self) -> dict[str, Any]:
        """Who the bot is (auth.test, asked once). Bolt's own single-team check answers Slack 200 when auth.test
        fails, and the event would be lost; failing here makes bolt answer 500 instead, and Slack retries."""
        if self._identity is None:
            try:
                answer = await self.client.auth_test()
            except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise SlackUnreachable(f"auth.test failed: {exc}") from exc
            self._identity = dict(answer.data) if isinstance(answer.data, dict) else {}
        return self._identity

    # ---- lifecycle --------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        if self.mode != "http" or self.app is None:
            return []
        handler = AsyncSlackRequestHandler(self.app)
        secret = self.core.settings.secrets.slack_signing_secret
        verifier = SignatureVerifier(secret.get_secret_value() if secret else "")
        refusals = RefusalLog(log)  # anyone can send bad requests: a flood of them is a few lines, not one each

        async def events(request: Request) -> Response:
            # Bolt parses the body before it checks the signature, and answers a body it cannot parse (not JSON,
            # a `payload` that is not, a JSON list) with a 500 and a traceback: anyone could fill the log. So the
            # signature and the shape are checked here first (the size as the body streams in: handlers.bodylimit);
            # bolt checks the signature again.
            body = await request.body()
            refused = signature.refusal(verifier, body, request.headers) or _shape_refusal(body, request)
            if refused is not None:
                client = request.client.host if request.client else "-"
                refusals.refused((refused.reason, client), 0, "Slack request refused (%d): %s; from %s",
                                 refused.status, refused.reason, client)  # fmt: skip
                return PlainTextResponse(refused.reason, status_code=refused.status)
            return await handler.handle(request)

        return [Route(EVENTS_PATH, events, methods=["POST"])]

    async def start(self) -> None:
        if self.mode == "socket":
            self._starting = asyncio.create_task(self._connect_socket())

    async def _connect_socket(self) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        app_token = self.core.settings.secrets.slack_app_token
        assert app_token is not None and self.app is not None
        self._socket = AsyncSocketModeHandler(self.app, app_token.get_secret_value())
        delay = 1.0
        while True:
            try:
                await self._socket.connect_async()
                log.info("Slack Socket Mode connected")
                return
            except Exception as exc:  # the Socket Mode client raises many kinds; all mean "try again later"
                log.error("Slack Socket Mode connection failed (%s); retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
        await self.drainer.close()


async def _log_error(error: Exception, body: dict[str, Any]) -> None:
    """Bolt's error handler: one line, no traceback (which would quote the request), whatever went wrong."""
    kind = str(body.get("type") or body.get("command") or "?")[:40] if isinstance(body, dict) else "?"
    if isinstance(error, BoltUnhandledRequestError):
        log.info("Slack request %r not handled: no listener for it", kind)
    elif isinstance(error, SlackUnreachable):
        log.error("Slack request %r answered 500 so Slack delivers it again: %s", kind, error)
    else:
        log.error("Slack request %r failed: %s at %s", kind, type(error).__name__, where(error.__traceback__))


def _shape_refusal(body: bytes, request: Request) -> signature.Refusal | None:
    """Why a signed request is not one bolt can match safely (not a JSON object or form, or misshapen), or None."""
    try:
        parsed = parse_body(body.decode("utf-8"), request.headers.get("content-type"))
    except (ValueError, RecursionError):  # not UTF-8 or not JSON; RecursionError: [[[[...]]]] nested deep
        parsed = None
    if not isinstance(parsed, dict):
        return signature.Refusal(400, "not a Slack request: expected a JSON object or a form")
    wrong = shape.problem(parsed)
    return None if wrong is None else signature.Refusal(400, f"malformed Slack request: {wrong}")
