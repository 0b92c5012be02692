"""Composition root: settings -> core + adapters -> one ASGI app, and `engagebot run`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.config import Settings
from bot.core import Core
from bot.messages import Inbound, Reply
from bot.ports import Clock
from bot.storage.database import redact_url
from handlers import metrics
from handlers.api import api_mount
from handlers.webchat import WebChatChannel, webchat_routes

log = logging.getLogger("engagebot")


class MeasuredEngine:
    """Wraps the engine's `handle` with metrics, so adapters stay one line."""

    def __init__(self, core: Core):
        self.core = core

    async def handle(self, inbound: Inbound) -> list[Reply]:
        started = time.perf_counter()
        replies = await self.core.engine.handle(inbound)
        metrics.INBOUND.labels(inbound.channel).inc()
        metrics.REPLY_SECONDS.labels(inbound.channel).observe(time.perf_counter() - started)
        return replies


def build_app(settings: Settings, *, clock: Clock | None = None, background: bool = True) -> Starlette:
    """The whole HTTP surface: web chat, health, metrics (Telegram and Slack routes join here)."""
    core = Core(settings, clock=clock)
    routes: list[BaseRoute] = [
        Route(
            "/", lambda _r: RedirectResponse("/chat") if settings.webchat.enabled else PlainTextResponse("engagebot")
        ),
        Route("/healthz", _healthz(core)),
        Route("/metrics", lambda _r: Response(metrics.render(), media_type="text/plain; version=0.0.4")),
        api_mount(core),  # /api: CRM events and customer data (503 until ENGAGEBOT_API_KEY is set)
    ]
    if settings.webchat.enabled:
        core.add_channel(WebChatChannel())
        routes += webchat_routes(MeasuredEngine(core), core.db, settings.webchat.title)
    telegram = None
    if settings.secrets.telegram_bot_token is not None:
        from handlers.telegram import TelegramAdapter

        telegram = TelegramAdapter(core)
        routes += telegram.routes()
    slack = None
    if settings.secrets.slack_bot_token is not None:
        from handlers.slack import SlackAdapter

        slack = SlackAdapter(core)
        core.set_staff_desk(slack.desk)
        routes += slack.routes()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        problems = await core.prepare()
        for problem in problems:
            log.error("flow refused: %s", problem)
        if telegram is not None:
            await telegram.start()
        if slack is not None:
            await slack.start()
        if background:
            await core.start_background()
        try:
            yield
        finally:
            # Background jobs stop first: a dispatch tick must not reach an adapter already shut down.
            core.scheduler.shutdown()
            if telegram is not None:
                await telegram.stop()
            if slack is not None:
                await slack.stop()
            await core.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.core = core
    app.state.telegram = telegram
    app.state.slack = slack
    return app


def _healthz(core: Core):  # type: ignore[no-untyped-def]
    async def healthz(_request: Request) -> Response:
        try:
            async with core.db.sessions() as session:
                from sqlalchemy import text

                await session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "error", "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "flows": len(core.registry.all())})

    return healthz


def channel_report(settings: Settings) -> list[str]:
    """What `engagebot run` serves and what is off, and why."""
    url = settings.public_url
    lines = [f"config: {settings.source}", f"database: {redact_url(settings.database.url)}",
             f"flows: {settings.flows_dir}" + (" (hot reload on)" if settings.flows.hot_reload else "")]  # fmt: skip
    if settings.webchat.enabled:
        lines.append(f"web chat: {url}/chat")
    else:
        lines.append("web chat: off (webchat.enabled is false in the config)")
    lines.append(f"health: {url}/healthz   metrics: {url}/metrics")
    if settings.secrets.api_key is None:
        lines.append("api: off (no ENGAGEBOT_API_KEY in the environment; /api answers 503)")
    else:
        lines.append(f"api: {url}/api (CRM events, customer profile, export, delete; docs/api.md)")
    if settings.secrets.telegram_bot_token is None:
        lines.append("telegram: off (no TELEGRAM_BOT_TOKEN in the environment)")
    elif settings.telegram.mode == "webhook":
        lines.append(f"telegram: webhook at {url}/telegram/webhook via {_api_host(settings)}")
    else:
        lines.append(f"telegram: long polling via {_api_host(settings)}")
    if settings.secrets.slack_bot_token is None:
        lines.append("slack: off (no SLACK_BOT_TOKEN; tickets are listed with `engagebot tickets list`)")
    else:
        lines.append(_slack_line(settings, url))
    lines.append("terminal chat: engagebot chat")
    return lines


def _slack_line(settings: Settings, url: str) -> str:
    secrets, slack = settings.secrets, settings.slack
    where = (", ".join(f"{category} -> {channel}" for category, channel in slack.channels.items())
             or "no slack.channels: new tickets go to the assignee's DM")  # fmt: skip
    via = _host(slack.api_url)
    if secrets.slack_app_token is not None:
        return f"slack: Socket Mode via {via}; {slack.command} for staff; tickets: {where}"
    if secrets.slack_signing_secret is not None:
        return f"slack: events, buttons and {slack.command} at {url}/slack/events via {via}; tickets: {where}"
    return (f"slack: posting only via {via} (no SLACK_SIGNING_SECRET or SLACK_APP_TOKEN: buttons, thread replies "
            f"and {slack.command} are off); tickets: {where}")  # fmt: skip


def _api_host(settings: Settings) -> str:
    """The Bot API server, without the path (the token is appended to it and must never be printed)."""
    return _host(settings.telegram.api_url)


def _host(api_url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}"


async def serve(settings: Settings) -> int:
    app = build_app(settings)
    config = uvicorn.Config(
        app, host=settings.server.host, port=settings.server.port, log_level="warning", lifespan="on",
        proxy_headers=True,
    )  # fmt: skip
    server = uvicorn.Server(config)
    for line in channel_report(settings):
        print(line, flush=True)
    try:
        await server.serve()
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0 if server.started or not server.should_exit else 1
