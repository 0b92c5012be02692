"""Inbound: customers' messages through a Bot API stand-in into real bot processes, polling and webhook.

Each bot runs as its own process against the same stand-in (tests/support/botapi_standin.py) in this one:
engagebot (`engagebot run`, SQLite and PostgreSQL) on a 5-question survey flow, the same survey as a
python-telegram-bot ConversationHandler with PicklePersistence, and a bare PTB echo bot (bench/survey_bots.py).
Every bot gets the same customers and the same message script, in the same run:

- saturation: `customers` customers at once, each sending the next message as soon as the reply arrives;
- fixed rate: messages offered at `rate`/s for `seconds` s (open loop), each customer writing once a second.

Latency is from the update being offered (pushed for getUpdates, or read by the webhook's poster just before it
POSTs it: webhook_poster.py, a process of its own, as Telegram's sender is not its Bot API server) to the bot's
reply reaching the stand-in (the sendMessage request's arrival), both on the machine's monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench import survey_bots as ptb
from tests.reliability.harness import EngagebotProcess
from tests.support.botapi_standin import BotApiStandIn

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("ENGAGEBOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
FIRST_CHAT = 100_000
# One survey, the same answers for every bot; every message gets exactly one reply.
SCRIPT = ("/survey", "4", "Online", "yes", "3", "Friendly staff and quick service")
DEFAULT_WEBHOOK_CONNECTIONS = 40  # Telegram's max_connections when setWebhook does not say
REPLY_TIMEOUT = 30.0
# Each customer goes through the survey this many times in the saturation run: 1,200 messages at 50 customers.
# Once (300 messages) the run was over in under a second, and a bot's figures moved by a third from run to run.
ROUNDS = 4
FLOW = f"""version: 1
flow: survey
title: Bench survey
triggers:
  - command: /survey
steps:
  - id: rating
    ask: "{ptb.RATING_Q}"
    expect: rating
  - id: heard
    ask: "{ptb.CHANNEL_Q}"
    expect: choice
    choices: [{", ".join(f'{{label: "{c}", value: c{n}}}' for n, c in enumerate(ptb.CHANNELS))}]
  - id: recommend
    ask: "{ptb.RECOMMEND_Q}"
    expect: yes_no
  - id: visits
    ask: "{ptb.VISITS_Q}"
    expect: number
  - id: comment
    ask: "{ptb.COMMENT_Q}"
    expect: text
  - action: record_survey
    survey: bench
    kind: csat
    score: "{{{{ answers.rating }}}}"
    comment: "{{{{ answers.comment }}}}"
  - end: "{ptb.THANKS}"
"""
BOTS = {
    "echo": "python-telegram-bot echo bot",
    "ptb_survey": "PTB ConversationHandler + PicklePersistence",
    "engagebot_sqlite": "engagebot, SQLite",
    "engagebot_postgres": "engagebot, PostgreSQL",
}
# The same two, run from another checkout (`--before DIR`, a `git archive` of an older commit) in the same run.
BEFORE = {
    "engagebot_sqlite_before": "engagebot, SQLite, before",
    "engagebot_postgres_before": "engagebot, PostgreSQL, before",
}


# ---- replies ----------------------------------------------------------------------------------


def leads_in(text: str) -> bool:
    """engagebot's welcome to a new customer (`texts.first_words_welcome`) as a message of its own, before the answer
    to their first message: what checkouts before the welcome opened that message sent (`--before`). Taken as that
    message's reply, it let the customer send the next message before the question arrived, so engagebot's
    customers ran a message ahead: a chat's webhook requests overlapped and arrived out of order, and answers met the
    wrong question (a reask, a ticket lookup, the intent matcher)."""
    return text.startswith("Hi Customer") and "welcome" in text and "\n" not in text


@dataclass(slots=True)
class Offered:
    """One message offered: when (None until the webhook's sender says), and when its reply reached the stand-in."""

    at: float | None
    future: asyncio.Future[float]
    replied: float | None = None


@dataclass
class Tracker:
    """Matches each reply to the oldest unanswered message of its chat (bots answer a chat in order); a reply that
    leads in (`leads_in`) is counted, and the message waits for the reply after it."""

    offered: dict[str, deque[Offered]] = field(default_factory=dict)
    messages: list[Offered] = field(default_factory=list)
    replies: dict[str, list[str]] = field(default_factory=dict)
    unmatched: int = 0
    lead_ins: int = 0

    def offer(self, chat: str, at: float | None) -> Offered:
        """Note a message offered at `at` (None: the webhook's sender tells it later); its future is the arrival
        time of its reply."""
        message = Offered(at, asyncio.get_running_loop().create_future())
        self.offered.setdefault(chat, deque()).append(message)
        self.messages.append(message)
        return message

    def on_record(self, record: dict[str, Any]) -> None:
        if record["method"] != "sendMessage" or not record["ok"]:
            return
        chat = str(record["chat_id"])
        if leads_in(record["text"]):
            self.lead_ins += 1
            return
        self.replies.setdefault(chat, []).append(record["text"])
        queue = self.offered.get(chat)
        if not queue:
            self.unmatched += 1
            return
        message = queue.popleft()
        message.replied = record["time"]
        if not message.future.done():
            message.future.set_result(record["time"])

    def figures(self, expected: int) -> dict[str, Any]:
        timed = [m for m in self.messages if m.at is not None and m.replied is not None]
        ordered = sorted(m.replied - m.at for m in timed)  # type: ignore[operator]
        elapsed = max((m.replied for m in timed), default=0.0) - min((m.at for m in timed), default=0.0)  # type: ignore[type-var]
        return {
            "messages": expected,
            "answered": len(ordered),
            "seconds": round(elapsed, 2),
            "messages_per_second": round(len(ordered) / elapsed, 1) if elapsed > 0 else 0.0,
            "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
            "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1) if ordered else None,
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
            "unmatched_replies": self.unmatched,
            "lead_in_replies": self.lead_ins,
        }


# ---- bots -------------------------------------------------------------------------------------


class BaselineBot(EngagebotProcess):
    """A baseline of bench/survey_bots.py in its own process, started and stopped like `engagebot run`."""

    def __init__(self, kind: str, folder: Path, api: BotApiStandIn, mode: str):
        self.args = [kind, "--mode", mode, "--api", api.base_url, "--data", str(folder)]
        super().__init__(folder / "config.yaml", "", folder / "bot.log")

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.survey_bots", *self.args, "--port", str(self.port)],
                cwd=self.config.parent, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (engagebot migrates it at start), dropped afterwards."""
    name = f"engagebot_bench_inbound_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _engagebot(
    folder: Path, api: BotApiStandIn, mode: str, database_url: str, checkout: Path | None = None
) -> EngagebotProcess:
    (folder / "flows").mkdir()
    (folder / "flows" / "survey.yaml").write_text(FLOW, encoding="utf-8")
    config = {
        "flows": {"dir": str(folder / "flows"), "hot_reload": False},
        "webchat": {"enabled": False},
        # The stand-in enforces no limits and the PTB bots use no rate limiter; customers here type faster
        # than people, so the per-chat pacing (1/s after a burst of 3) would only add waiting.
        "telegram": {"max_per_second": 10_000, "max_per_chat_per_second": 1_000, "chat_burst": 100},
    }
    (folder / "config.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    env = {"TELEGRAM_BOT_TOKEN": ptb.BOT_TOKEN, "TELEGRAM_API_URL": api.base_url, "TELEGRAM_MODE": mode,
           "TELEGRAM_WEBHOOK_SECRET": ptb.WEBHOOK_SECRET}  # fmt: skip
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)  # ahead of this checkout's editable install
    return EngagebotProcess(folder / "config.yaml", database_url, folder / "bot.log", env)


@contextlib.asynccontextmanager
async def running_bot(
    bot: str, mode: str, api: BotApiStandIn, folder: Path, before: Path | None = None
) -> AsyncIterator[EngagebotProcess]:
    async with contextlib.AsyncExitStack() as stack:
        process: EngagebotProcess
        checkout = before if bot.endswith("_before") else None
        if bot.startswith("engagebot_postgres"):
            url = await stack.enter_async_context(postgres_database())
            process = _engagebot(folder, api, mode, url, checkout)
        elif bot.startswith("engagebot_sqlite"):
            process = _engagebot(folder, api, mode, f"sqlite+aiosqlite:///{folder / 'engagebot.db'}", checkout)
        else:
            process = BaselineBot("echo" if bot == "echo" else "survey", folder, api, mode)
        stack.callback(process.stop)
        deadline = time.monotonic() + 60
        ready: Callable[[], object] = (lambda: api.webhook) if mode == "webhook" else (lambda: api.calls("getUpdates"))
        while not ready():
            if not process.alive():
                raise RuntimeError(f"{bot} exited: {process.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{bot} did not start: {process.tail()}")
            await asyncio.sleep(0.05)
        yield process


# ---- customers --------------------------------------------------------------------------------


class WebhookPoster:
    """Telegram's webhook sender (webhook_poster.py) in a process of its own, one per bot measured in webhook mode,
    kept from the warm-up to the end so that its connections and code are warm when it is timed. Each message
    posted gets its offer time from the poster, the moment it read the message, on the same monotonic clock."""

    def __init__(self, api: BotApiStandIn):
        self.api = api
        self.failed = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._acks: asyncio.Task[None] | None = None
        self._posted: dict[int, Offered] = {}
        self._count = 0
        self._settled = asyncio.Event()

    async def start(self) -> None:
        self._process = self._spawn()
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self._process.stdout)
        self._acks = asyncio.create_task(self._read_acks(reader))

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Started as the bots are (not by asyncio, whose child watcher saw these exits reaped by another)."""
        assert self.api.webhook is not None
        # Like Telegram: at most the webhook's max_connections requests at once.
        connections = self.api.webhook.get("max_connections") or DEFAULT_WEBHOOK_CONNECTIONS
        return subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_poster", self.api.webhook["url"], ptb.WEBHOOK_SECRET,
             str(connections)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip

    def post(self, update: dict[str, Any], message: Offered) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._count += 1
        self._posted[self._count] = message
        self._settled.clear()
        self._process.stdin.write(f"{self._count}\t{json.dumps(update)}\n".encode())
        self._process.stdin.flush()

    async def _read_acks(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            number, offered, ok = line.decode().split("\t")
            self._posted.pop(int(number)).at = float(offered)
            self.failed += ok.strip() != "1"
            if not self._posted:
                self._settled.set()

    @property
    def unanswered(self) -> int:
        """Messages posted whose POST has no answer yet (after `settled`: none, unless the bot or the poster hung)."""
        return len(self._posted)

    async def settled(self) -> None:
        """Every message posted so far has the bot's answer, or REPLY_TIMEOUT has passed."""
        if self._posted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), REPLY_TIMEOUT)

    async def close(self) -> None:
        if self._process is None:
            return
        assert self._process.stdin is not None and self._acks is not None
        self._process.stdin.close()  # the poster ends once every POST is answered
        try:
            await asyncio.wait_for(self._acks, REPLY_TIMEOUT)
        finally:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        self.failed += len(self._posted)  # never answered: the poster died


@contextlib.asynccontextmanager
async def posting(api: BotApiStandIn, mode: str) -> AsyncIterator[WebhookPoster | None]:
    """A webhook poster for the bot's run in webhook mode (None when it polls), ended with it."""
    if mode != "webhook":
        yield None
        return
    poster = WebhookPoster(api)
    await poster.start()
    try:
        yield poster
    finally:
        await poster.close()


class Offers:
    """Hands a customer's message to the bot the way Telegram does: pushed for the bot's getUpdates, or POSTed to
    its webhook by `poster` (from another process, as Telegram's own servers would: in this one, handling a bot's
    answer to a POST delayed the timing of a reply that reached this process at the same moment)."""

    def __init__(self, api: BotApiStandIn, tracker: Tracker, poster: WebhookPoster | None):
        self.api = api
        self.tracker = tracker
        self.poster = poster
        self._failed_before = poster.failed if poster else 0

    @property
    def failed(self) -> int:
        """POSTs of this run that were not answered 200, or not answered at all."""
        return self.poster.failed - self._failed_before + self.poster.unanswered if self.poster else 0

    async def settled(self) -> None:
        if self.poster is not None:
            await self.poster.settled()

    def send(self, chat: int, text: str) -> asyncio.Future[float]:
        update = self.api.text_update(chat, text, first_name=f"Customer{chat}")
        if self.poster is None:
            message = self.tracker.offer(str(chat), time.monotonic())
            self.api.push_update(update)
        else:
            message = self.tracker.offer(str(chat), None)
            self.poster.post(update, message)
        return message.future


async def _survey(offers: Offers, chat: int, rounds: int) -> None:
    for _ in range(rounds):
        for text in SCRIPT:
            await asyncio.wait_for(offers.send(chat, text), REPLY_TIMEOUT)


async def saturation(
    api: BotApiStandIn, poster: WebhookPoster | None, customers: int, first_chat: int, rounds: int = 1
) -> dict[str, Any]:
    """All customers at once, each answering as soon as the bot has replied (a closed loop), through the survey
    `rounds` times."""
    tracker = Tracker()
    api.listeners[:] = [tracker.on_record]
    offers = Offers(api, tracker, poster)
    try:
        await asyncio.gather(*(_survey(offers, first_chat + n, rounds) for n in range(customers)))
    finally:
        await offers.settled()
    figures = tracker.figures(customers * len(SCRIPT) * rounds)
    figures["failed_posts"] = offers.failed
    figures["replies_checked"] = _check_replies(tracker, first_chat, customers, rounds)
    return figures


async def fixed_rate(
    api: BotApiStandIn, poster: WebhookPoster | None, rate: float, seconds: float, first_chat: int
) -> dict[str, Any]:
    """Messages offered at `rate`/s whatever the replies (an open loop). `rate` customers take turns, so each
    writes once a second; a customer who finished the survey is followed by a new one."""
    tracker = Tracker()
    api.listeners[:] = [tracker.on_record]
    offers = Offers(api, tracker, poster)
    slots = max(1, round(rate))
    total = int(rate * seconds)
    started = time.monotonic()
    pending: list[asyncio.Future[float]] = []
    for i in range(total):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        slot, turn = i % slots, i // slots
        chat = first_chat + slot + slots * (turn // len(SCRIPT))
        pending.append(offers.send(chat, SCRIPT[turn % len(SCRIPT)]))
    offered_seconds = time.monotonic() - started
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(asyncio.shield(f) for f in pending)), REPLY_TIMEOUT)
    await offers.settled()
    figures = tracker.figures(total)
    figures["offered_per_second"] = round(total / offered_seconds, 1)
    figures["failed_posts"] = offers.failed
    return figures


def _check_replies(tracker: Tracker, first_chat: int, customers: int, rounds: int) -> bool:
    """Every customer got one reply per message, and the last one of each round ends the survey (or echoes the
    last line)."""
    for n in range(customers):
        got = tracker.replies.get(str(first_chat + n), [])
        if len(got) != len(SCRIPT) * rounds:
            return False
        if any(got[end] not in (ptb.THANKS, SCRIPT[-1]) for end in range(len(SCRIPT) - 1, len(got), len(SCRIPT))):
            return False
    return True


# ---- the benchmark ----------------------------------------------------------------------------


@contextlib.contextmanager
def without_our_gc_pauses() -> Iterator[None]:
    """This process (the stand-in and the customers) collects no garbage while it measures. Its full collections
    took 90-170 ms by the end of a run, and every reply that arrived meanwhile was timed that much late, whichever bot
    it came from: the fixed rate's p99 moved by a factor of three from run to run. Reference counting still frees
    nearly everything; the cycles wait for the end of the window."""
    gc.collect()
    gc.freeze()  # what was there before: never scanned again
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """Sample the bot process with py-spy (collapsed stacks, on-CPU only) while in the block, if `out` is set."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")  # installed in the venv
    spy = subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                            "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        spy.wait(timeout=30)


async def measure(
    bot: str, mode: str, customers: int, rate: float, seconds: float, profile: Path | None = None,
    before: Path | None = None, rounds: int = ROUNDS,
) -> dict[str, Any]:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            BotApiStandIn() as api,
            running_bot(bot, mode, api, Path(tmp), before) as process,
            posting(api, mode) as poster,
        ):
            try:
                # Warm-up: two customers through the whole survey (connections, caches, first queries).
                await saturation(api, poster, 2, FIRST_CHAT - 10)
                out = profile / f"{bot}-{mode}.txt" if profile else None
                cpu = cpu_seconds(process.pid)
                with py_spy(process.pid, out), without_our_gc_pauses():
                    result = {"saturation": await saturation(api, poster, customers, FIRST_CHAT, rounds)}
                # CPU per message tells a bot that computes too much from one that waits too much.
                cpu = cpu_seconds(process.pid) - cpu
                messages = customers * len(SCRIPT) * rounds
                result["saturation"]["bot_cpu_ms_per_message"] = round(cpu * 1000 / messages, 2)
                if seconds > 0:
                    with without_our_gc_pauses():
                        result["fixed_rate"] = await fixed_rate(api, poster, rate, seconds, FIRST_CHAT + customers)
            except (TimeoutError, AssertionError) as exc:
                raise RuntimeError(f"{bot} ({mode}) failed: {exc!r}\n{process.tail()}") from exc
    return result


async def run_async(
    customers: int = 50, rate: float = 100, seconds: float = 10, modes: tuple[str, ...] = ("polling", "webhook"),
    bots: tuple[str, ...] = tuple(BOTS), log: Callable[[str], None] = print, profile: Path | None = None,
    before: Path | None = None, rounds: int = ROUNDS,
) -> dict[str, Any]:  # fmt: skip
    """`before`: another checkout whose engagebot is measured too, the same way, in the same run."""
    report: dict[str, Any] = {"customers": customers, "rounds": rounds, "script": list(SCRIPT), "rate": rate,
                              "seconds": seconds}  # fmt: skip
    if before is not None:
        bots = (*bots, *(f"{bot}_before" for bot in bots if f"{bot}_before" in BEFORE))
    for mode in modes:
        for bot in bots:
            log(f"  inbound {mode:<8} {bot} ...")
            report.setdefault(mode, {})[bot] = await measure(
                bot, mode, customers, rate, seconds, profile, before, rounds
            )
        report[mode]["ratios"] = _ratios(report[mode])
    return report


def _ratios(results: dict[str, Any]) -> dict[str, Any]:
    def tput(bot: str) -> float | None:
        found = results.get(bot)
        return found["saturation"]["messages_per_second"] if found else None

    ratios: dict[str, Any] = {}
    for ours in ("engagebot_sqlite", "engagebot_postgres", *BEFORE):
        mine = tput(ours)
        for base in ("echo", "ptb_survey"):
            other = tput(base)
            if mine and other:
                ratios[f"{ours}_vs_{base}"] = round(mine / other, 2)
    return ratios


def table(report: dict[str, Any]) -> list[str]:
    """Rows for `python -m bench`: saturation msgs/s and p50/p99, fixed-rate p99, ratios."""
    head = f"inbound: {report['customers']} customers at once, {report.get('rounds', 1)} surveys each"
    rate = f"@{int(report['rate'])}/s p99"
    lines = [f"{head:<56} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8} {rate:>11} {'CPU ms/msg':>10}"]
    for mode in ("polling", "webhook"):
        for bot, results in report.get(mode, {}).items():
            if bot == "ratios":
                continue
            s, label = results["saturation"], f"{mode} {BOTS.get(bot) or BEFORE[bot]}"
            fixed = results.get("fixed_rate", {}).get("p99_ms", "-")
            lines.append(f"{label:<56} {s['messages_per_second']:>8} {s['p50_ms']:>8} {s['p99_ms']:>8} {fixed:>11} "
                         f"{s.get('bot_cpu_ms_per_message', '-'):>10}")  # fmt: skip
        for name, value in report.get(mode, {}).get("ratios", {}).items():
            label = f"  {mode} throughput ratio {name}"
            lines.append(f"{label:<56} {value:>8}")
    return lines


def run(**kwargs: Any) -> dict[str, Any]:
    return asyncio.run(run_async(**kwargs))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="times each customer goes through the survey")
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--modes", default="polling,webhook")
    parser.add_argument("--bots", default=",".join(BOTS))
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--profile", type=Path, help="write py-spy stacks of each bot's saturation run here")
    parser.add_argument("--before", type=Path, help="another checkout whose engagebot to measure in the same run")
    parsed = parser.parse_args()
    found = run(
        customers=parsed.customers, rate=parsed.rate, seconds=parsed.seconds, modes=tuple(parsed.modes.split(",")),
        bots=tuple(parsed.bots.split(",")), profile=parsed.profile, before=parsed.before, rounds=parsed.rounds,
    )  # fmt: skip
    print("\n".join(table(found)))
    if parsed.json:
        print(json.dumps(found, indent=2))
