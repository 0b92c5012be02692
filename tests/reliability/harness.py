"""Shared by the reliability tests and bench/soak.py: real `engagebot run` processes, a private PostgreSQL a test may
stop and start, stand-ins served from a thread of their own (for synchronous hypothesis tests), customers who chat
over Telegram, and what the bot stored, read back for the verdict."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from sqlalchemy import case, func, select

from bot.conversations.kinds import ConversationKind
from bot.customers.models import ChannelIdentity
from bot.outbox.models import PENDING, OutboxItem
from bot.storage.database import Database
from bot.surveys.models import SurveyResponse
from bot.transcript import Message
from tests.support.botapi_standin import BotApiStandIn
from tests.support.slack_standin import SlackApiStandIn

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
STARTER_FLOWS = REPO / "flows"
TOKEN = "123456:RELIABILITY-token"
WEBHOOK_SECRET = "reliability_Secret-1"
SLACK_TOKEN = "xoxb-reliability"
SLACK_SECRET = "reliability-signing-secret"
API_KEY = "reliability-api-key-0123456789abcdef"
SUPPORT = "C0SUPPORT"
ANA = "U0ANA"
STAFF = [{"key": "ana", "name": "Ana Lima", "slack_user_id": ANA}]

# A customer's whole conversation, typed (typed answers work wherever buttons do): onboarding, then an NPS survey.
SCRIPT = ("hi", "Just for me", "no", "Skip", "/nps", "9", "Great service")
LAST_REPLY = "Thank you for your feedback. It goes straight to the team."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path, **sections: Any) -> Path:
    """A config.yaml (JSON is YAML) with the starter flows, fast ticks, no quiet hours or cap, plus `sections`."""
    folder.mkdir(parents=True, exist_ok=True)
    outreach = {"tick_seconds": 0.2, "quiet_hours": None, "frequency_cap": None, **sections.pop("outreach", {})}
    # Every test client is 127.0.0.1, which skips the web chat's per-address limits by default (the flood tests send
    # X-Forwarded-For with public addresses, which stay limited).
    config = {"flows": {"dir": str(STARTER_FLOWS), "hot_reload": False}, "outreach": outreach, **sections}
    path = folder / "config.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def telegram_env(api: BotApiStandIn, mode: str = "polling") -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api.base_url, "TELEGRAM_MODE": mode,
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}  # fmt: skip


def slack_env(api: SlackApiStandIn) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": api.base_url}


class EngagebotProcess:
    """One real `engagebot run` on its own port, its output in a log file; killed or stopped like in production."""

    launcher: tuple[str, ...] = ()  # a command the process is started through (e.g. setpriv, to drop privileges)

    def __init__(self, config: Path, database_url: str, log: Path, env: Mapping[str, str] | None = None):
        self.config = config
        self.log = log
        self.port = free_port()
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ENGAGEBOT_", "TELEGRAM_", "SLACK_"))}
        clean.update(PYTHONPATH=str(REPO), DATABASE_URL=database_url, ENGAGEBOT_CONFIG=str(config),
                     ENGAGEBOT_PORT=str(self.port))  # fmt: skip
        clean.update(env or {})  # may name another checkout's PYTHONPATH (bench --before)
        self.env = clean
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """(Re)start the process on the same port, appending to the same log."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*self.launcher, sys.executable, "-m", "handlers.cli", "run"], cwd=self.config.parent, env=self.env,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def wait_healthy(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"engagebot exited: {self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise TimeoutError(f"engagebot not healthy within {timeout}s: {self.tail()}")

    def kill(self) -> None:
        """kill -9: no shutdown code runs, whatever was in flight stays in flight."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rss_mb(self) -> float:
        """Resident memory as Linux counts it (VmRSS), in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def diagnose(self) -> str:
        """The log's end after asking the process what each of its tasks waits on (handlers/taskdump.py): for a
        test that times out while the process is alive but does nothing."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(1)
        return self.tail(20000)


# ---- a private PostgreSQL -----------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


async def postgres_activity(url: str) -> str:
    """Every other session of the server at `url`: its state, what it waits on and the locks it holds or wants,
    for a test that times out while the database seems stuck."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT a.pid, a.state, a.wait_event_type, a.wait_event, now() - a.xact_start AS in_transaction,"
            " left(a.query, 160) AS query, (SELECT string_agg(l.mode || CASE WHEN l.granted THEN '' ELSE ' (wanted)'"
            " END || ' ' || coalesce(l.relation::regclass::text, l.locktype), ', ') FROM pg_locks l"
            " WHERE l.pid = a.pid) AS locks FROM pg_stat_activity a"
            " WHERE a.pid <> pg_backend_pid() AND a.datname IS NOT NULL"
        )
    finally:
        await conn.close()
    return "\n".join(["postgres sessions:", *(str(dict(row)) for row in rows)])


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, its own port), so the test can stop and
    start it while the bot runs without touching the machine's shared server. As root it runs as `postgres`
    (PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="engagebot-pg-"))
        self.data = self.folder / "data"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once (clients see their connections closed); `immediate` is a crash."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


# ---- stand-ins in a thread of their own ---------------------------------------------------------------------------


class StandInThread:
    """A Bot API and a Slack Web API stand-in served by an event loop in a background thread, for tests that are
    not coroutines themselves (hypothesis drives synchronous functions). `run(coro)` runs a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stand-ins", daemon=True)
        self.telegram: BotApiStandIn
        self.slack: SlackApiStandIn

    def __enter__(self) -> StandInThread:
        self.thread.start()

        async def start() -> None:
            self.telegram = BotApiStandIn()
            self.slack = SlackApiStandIn(users={ANA: "Ana Lima"}, channels={SUPPORT: "support"})
            await self.telegram.start()
            await self.slack.start()

        self.run(start())
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc_info: object) -> None:
        async def stop() -> None:
            await self.telegram.stop()
            await self.slack.stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


# ---- customers chatting over Telegram -----------------------------------------------------------------------------


@dataclass
class Customer:
    """A Telegram user who types their script whatever the bot answers (or fails to)."""

    api: BotApiStandIn
    chat_id: int
    name: str = "Ana"
    said: int = 0

    def say_next(self, count: int = 1) -> list[int]:
        """Type the next `count` lines of the script; returns their update ids."""
        ids = []
        for text in SCRIPT[self.said : self.said + count]:
            update = self.api.push_update(self.api.text_update(self.chat_id, text, first_name=self.name))
            ids.append(update["update_id"])
        self.said += count
        return ids

    def messages(self) -> list[str]:
        return self.api.messages_to(self.chat_id)

    def finished(self) -> bool:
        messages = self.messages()
        return bool(messages) and messages[-1] == LAST_REPLY


def interleaved(customers: list[Customer], rounds: int) -> list[int]:
    """Each customer types one line per round, taking turns, as people writing at the same time do."""
    ids: list[int] = []
    for _ in range(rounds):
        for customer in customers:
            ids += customer.say_next()
    return ids


# ---- what the bot stored ------------------------------------------------------------------------------------------


async def inbound_ids(db: Database, channel: str = "telegram") -> Counter[str]:
    """How often each platform message id is in the transcript (each update must be there exactly once)."""
    async with db.sessions() as session:
        query = select(Message.platform_message_id).where(Message.direction == "in", Message.channel == channel)
        return Counter(str(m) for m in (await session.execute(query)).scalars())


async def transcript_out(db: Database, address: str, channel: str = "telegram") -> list[str]:
    """The texts the engine decided to send to one chat, in order (what the customer should see)."""
    async with db.sessions() as session:
        query = (
            select(Message.text)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Message.customer_id)
            .where(ChannelIdentity.channel == channel, ChannelIdentity.address == address, Message.direction == "out")
            .order_by(Message.id)
        )
        return [text or "" for text in (await session.execute(query)).scalars()]


SCHEDULED = "scheduled"  # a flow put off until later (onboarding behind a first-message complaint), not due yet


async def outbox_statuses(db: Database) -> dict[str, int]:
    """The outbox rows per status; a flow start put off until later counts as SCHEDULED, not as work left undone."""
    later = (
        (OutboxItem.kind == ConversationKind.START_FLOW)
        & (OutboxItem.status == PENDING)
        & (OutboxItem.due_at > datetime.now(UTC))
    )
    status = case((later, SCHEDULED), else_=OutboxItem.status)
    async with db.sessions() as session:
        query = select(status, func.count()).group_by(status)
        return {status: int(count) for status, count in (await session.execute(query)).all()}


async def survey_answers(db: Database) -> list[tuple[int | None, str | None]]:
    async with db.sessions() as session:
        query = select(SurveyResponse.score, SurveyResponse.comment).order_by(SurveyResponse.id)
        return [(score, comment) for score, comment in (await session.execute(query)).all()]


def extra_copies(delivered: list[str], expected: list[str], batch: int = 3) -> int:
    """How many delivered messages are repeats: one of the last `batch` messages sent again (a reply batch retried
    after a crash or a timeout, whose first try Telegram had carried out). Anything else (a message missing, out of
    order, or never decided by the engine) fails."""
    extra, at = 0, 0
    for text in delivered:
        if at < len(expected) and text == expected[at]:
            at += 1
        elif text in expected[max(0, at - batch) : at]:
            extra += 1
        else:
            raise AssertionError(f"unexpected message {text!r} after {expected[:at]!r}; expected {expected!r}")
    assert at == len(expected), f"missing {expected[at:]!r}; delivered {delivered!r}"
    return extra


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    timeout: float = 30,  # noqa: ASYNC109
    what: str | Callable[[], str | Awaitable[str]] = "",
) -> T:
    """Poll `probe` (sync or async) until it returns something truthy; return that. `what` (or what it returns)
    explains a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            said = what() if callable(what) else what or probe
            if asyncio.iscoroutine(said):
                said = await said
            raise AssertionError(f"not within {timeout}s: {said}")
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def processes(*running: EngagebotProcess) -> Iterator[None]:
    """Stop every process however the test ends."""
    try:
        yield
    finally:
        for process in running:
            process.stop()
