"""Composition root: settings -> core + adapters -> one ASGI app, and `engagebot run`."""

from __future__ import annotations

import asyncio
import errno
import gc
import hmac
import logging
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.config import Settings
from bot.core import Core
from bot.messages import Inbound, Reply
from bot.ports import Clock
from bot.storage.database import redact_url
from bot.storage.health import NotWritable, write_heartbeat
from bot.yamlsource import Problem
from handlers import metrics, taskdump
from handlers.admin import admin_mount
from handlers.api import api_mount
from handlers.bodylimit import BodyLimit, BodyLimits
from handlers.lastresort import LastResort
from handlers.ratelimit import RefusalLog
from handlers.securityheaders import SecurityHeaders
from handlers.webchat import WebChatChannel, webchat_routes
from handlers.webchat.routes import chat_page_html

log = logging.getLogger("engagebot")
HEALTH_WRITE_TIMEOUT = 5  # seconds /healthz waits for its write; a database slower than that is not healthy


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
        Route("/metrics", _metrics(settings.secrets.metrics_token)),
        api_mount(core),  # /api: CRM events and customer data (503 until ENGAGEBOT_API_KEY is set)
        admin_mount(core),  # /admin: the console (404 until `engagebot admin add` created an account)
    ]
    if settings.webchat.enabled:
        core.add_channel(WebChatChannel())
        routes += webchat_routes(MeasuredEngine(core), core.transcripts, settings.webchat.title,
                                 settings.webchat.rate_limits)  # fmt: skip
    telegram = None
    if settings.secrets.telegram_bot_token is not None:
        from handlers.telegram import TelegramAdapter

        telegram = TelegramAdapter(core)
        # First: the router tries routes in order, and every Telegram update is a request (no path overlaps).
        routes[:0] = telegram.routes()
    slack = None
    if settings.secrets.slack_bot_token is not None:
        from handlers.slack import SlackAdapter
        from handlers.slack.alerts import SlackAlertDesk
        from handlers.slack.weekly import SlackReportsDesk

        slack = SlackAdapter(core)
        core.set_staff_desk(slack.desk)
        core.set_reports_desk(SlackReportsDesk(slack.desk))
        core.staff_alerts.desk = SlackAlertDesk(slack.desk)
        routes += slack.routes()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        taskdump.install(asyncio.get_running_loop())
        if getattr(_app.state, "problems", None) is None:  # serve() prepares before its banner; tests do not
            for problem in await core.prepare():
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

    app = Starlette(routes=routes, lifespan=lifespan, middleware=_guards(settings))
    app.state.core = core
    app.state.telegram = telegram
    app.state.slack = slack
    return app


def _guards(settings: Settings) -> list[Middleware]:
    """Around every route, those added later included (outermost first): security headers on every answer, a JSON
    500 with one log line for anything unhandled, and bodies bounded as they stream in."""
    server, webchat = settings.server, settings.webchat
    pages = [chat_page_html(webchat.title)] if webchat.enabled else []
    return [
        Middleware(SecurityHeaders, trusted_pages=pages, embeddable=["/chat"], frame_ancestors=webchat.frame_ancestors),
        Middleware(LastResort),
        Middleware(BodyLimit, limits=BodyLimits(server.max_body_bytes, server.max_body_bytes_by_path)),
    ]


def _healthz(core: Core):  # type: ignore[no-untyped-def]
    """200 while the database accepts a write (a heartbeat row), else 503 with the reason; logged when it changes."""
    healthy = True

    async def healthz(_request: Request) -> Response:
        nonlocal healthy
        try:
            await asyncio.wait_for(write_heartbeat(core.db, core.clock.now()), HEALTH_WRITE_TIMEOUT)
        except (NotWritable, TimeoutError) as exc:
            kind = exc.kind if isinstance(exc, NotWritable) else "timeout"
            if healthy:
                log.error("health: the database does not accept writes (%s)", exc if kind != "timeout" else kind)
            healthy = False
            return JSONResponse({"status": "error", "database": kind, "reason": _REASONS[kind]}, status_code=503)
        if not healthy:
            log.info("health: the database accepts writes again")
        healthy = True
        return JSONResponse({"status": "ok", "flows": len(core.registry.all())})

    return healthz


_REASONS = {
    "read-only": "the database is read-only: messages cannot be stored",
    "unavailable": "the database is unreachable",
    "timeout": f"the database did not accept a write within {HEALTH_WRITE_TIMEOUT} s",
    "error": "the database refused a write",
}


def _metrics(token: SecretStr | None):  # type: ignore[no-untyped-def]
    """Prometheus metrics; with ENGAGEBOT_METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    expected = token.get_secret_value().encode() if token is not None else None
    refusals = RefusalLog(log)  # anyone who reaches the port can guess: a flood is a few lines, not one each

    async def render(request: Request) -> Response:
        if expected is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
                client = request.client.host if request.client else "-"
                refusals.refused(client, 0, "metrics: request without the right token refused; from %s", client)
                return JSONResponse({"error": "send Authorization: Bearer <ENGAGEBOT_METRICS_TOKEN>"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'})  # fmt: skip
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return render


def channel_report(settings: Settings, refused: Sequence[Problem] = ()) -> list[str]:
    """What `engagebot run` serves and what is off, and why; `refused` are the first problems of the flow files
    that are not in force."""
    url = settings.public_url
    lines = [f"config: {settings.source}" + ("" if settings.source != "(embedded defaults)" else
                                              " (no config.yaml here; `engagebot init` writes one to edit)"),
             f"database: {redact_url(settings.database.url)}", _flows_line(settings)]  # fmt: skip
    lines += [f"flow not in force: {problem}" for problem in refused]
    if settings.webchat.enabled:
        lines.append(f"web chat: {url}/chat")
    else:
        lines.append("web chat: off (webchat.enabled is false in the config)")
    guarded = " (needs Authorization: Bearer <ENGAGEBOT_METRICS_TOKEN>)" if settings.secrets.metrics_token else ""
    lines.append(f"health: {url}/healthz   metrics: {url}/metrics{guarded}")
    lines.append(f"admin console: {url}/admin (off until `engagebot admin add NAME --role admin`)")
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


def _flows_line(settings: Settings) -> str:
    if settings.uses_starter_flows:
        return (f"flows: the built-in starter flows ({settings.configured_flows_dir} does not exist; `engagebot init` "
                "copies them there to edit)")  # fmt: skip
    return f"flows: {settings.flows_dir}" + (" (hot reload on)" if settings.flows.hot_reload else "")


def refused_flows(core: Core, problems: Sequence[Problem]) -> list[Problem]:
    """The first problem of each flow file that is not in force (a file in force may still have a warning)."""
    in_force = {lf.path for lf in core.registry.all()}
    first: dict[str, Problem] = {}
    for problem in problems:
        if problem.path not in in_force:
            first.setdefault(problem.path, problem)
    return list(first.values())


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


def uvicorn_config(app: Starlette, settings: Settings) -> uvicorn.Config:
    # log_config=None: uvicorn's loggers keep no handlers of their own and propagate to ours (handlers.logsetup), in
    # the same format and masked like every other; with its own handlers a token in a header was logged in clear.
    # timeout_keep_alive: longer than the idle timeout of the proxies in front (60 s for nginx and most load
    # balancers) and of clients' pools; with uvicorn's 5 s, a request sent on a connection just as the server closed
    # it fails (a reset, seen by the web chat flood test as httpx.ReadError).
    return uvicorn.Config(
        app, host=settings.server.host, port=settings.server.port, log_level="warning", lifespan="on",
        proxy_headers=True, log_config=None, access_log=False, timeout_keep_alive=75,
    )  # fmt: skip


class PortUnavailable(Exception):
    """The server cannot listen where the settings say: one line naming ENGAGEBOT_PORT / ENGAGEBOT_HOST."""


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before the banner is printed: a busy port is one clear line, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
    try:
        sock.bind((host, port))
        # Listening at once makes the port ours alone while the database is prepared: with SO_REUSEADDR, a socket
        # that is only bound can be bound again by another process, and connections meant for us would go there.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"port {port} on {host} is already in use (another engagebot?): set ENGAGEBOT_PORT "
                                  "to a free port (ENGAGEBOT_HOST chooses the address)") from exc  # fmt: skip
        if exc.errno == errno.EACCES:
            raise PortUnavailable(f"not allowed to listen on port {port} (below 1024 needs root): set ENGAGEBOT_PORT "
                                  "to a port above 1024") from exc  # fmt: skip
        raise PortUnavailable(f"cannot listen on {host}:{port} ({exc.strerror or exc}): set ENGAGEBOT_HOST to an "
                              "address of this machine (127.0.0.1, or 0.0.0.0 for all)") from exc  # fmt: skip
    return sock


async def serve(settings: Settings) -> int:
    """`engagebot run`: the database (migrated) and the port are checked before the banner, so a problem with
    either is one line (DatabaseUnusable, PortUnavailable) and the banner means the bot is about to serve."""
    app = build_app(settings)
    core: Core = app.state.core
    sock = listening_socket(settings.server.host, settings.server.port)
    try:
        app.state.problems = await core.prepare()
        core.engine.warm()
        await core.db.warm()
        # What is built by now (modules, flows, the intent classifier, the word list: about 265,000 objects) lives
        # as long as the process. Frozen, the collector no longer walks it: its full collections took 0.15 s each,
        # 0.6 ms of CPU per message in bench/bench_inbound.py, and stalled every conversation meanwhile. (What of it
        # is dropped later, such as flows replaced by a reload, stays in memory: once, bounded by this start.)
        gc.collect()
        gc.freeze()
    except BaseException:
        sock.close()
        await core.close()
        raise
    port = sock.getsockname()[1]  # port 0 asks for a free one: the banner names the one given
    settings = settings.model_copy(update={"server": settings.server.model_copy(update={"port": port})})
    server = uvicorn.Server(uvicorn_config(app, settings))
    for line in channel_report(settings, refused_flows(core, app.state.problems)):
        print(line, flush=True)
    try:
        # The port was held while the database was prepared; uvicorn binds it again itself. Serving on the socket
        # handed over (serve(sockets=...)) reset connections under the web chat flood test (httpx.ReadError, one
        # run in two), where uvicorn's own bind never did.
        sock.close()
        await server.serve()
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0 if server.started or not server.should_exit else 1
