"""Soak: a real `engagebot run` under mixed traffic for N minutes, its memory sampled every minute.

    .venv/bin/python -m bench.soak --minutes 30          # the documented soak (not in CI)
    .venv/bin/python -m bench.soak --minutes 1           # a quick look

Traffic, all on this machine: Telegram customers (long polling, Bot API stand-in with Telegram's limits) running
onboarding and an NPS survey, web chat customers filing complaints (tickets posted to the Slack Web API stand-in),
and a campaign to everyone every few minutes. Resident memory (VmRSS) is sampled every minute; after a two-minute
warm-up it must stay flat: the last samples' average within `--tolerance` (15%) of the first ones'. Exits 0 when
flat and every customer was answered, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.config import load_settings
from bot.outreach.campaigns import planning
from bot.storage.database import Database
from tests.reliability.harness import (
    STAFF,
    SUPPORT,
    Customer,
    EngagebotProcess,
    eventually,
    slack_env,
    telegram_env,
    write_config,
)
from tests.support.botapi_standin import BotApiStandIn
from tests.support.slack_standin import SlackApiStandIn

COMPLAINT = ("hi", "cancel", "/complain", "The app crashes at login", "Something else", "Skip", "A little, no rush")
WARM_UP_MINUTES = 2


async def telegram_traffic(api: BotApiStandIn, stop: asyncio.Event, per_minute: int, counts: dict[str, int]) -> None:
    """New customers keep arriving; each types its whole script, one line every second or so."""
    chat_ids = itertools.count(100_000)

    async def one() -> None:
        customer = Customer(api, next(chat_ids))
        for _ in range(7):
            customer.say_next()
            await asyncio.sleep(1)
        with contextlib.suppress(AssertionError):
            await eventually(customer.finished, timeout=120)
        counts["telegram_done" if customer.finished() else "telegram_unanswered"] += 1

    tasks: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(60 / per_minute)
    await asyncio.gather(*tasks)


async def webchat_traffic(url: str, stop: asyncio.Event, per_minute: int, counts: dict[str, int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while not stop.is_set():
            visitor = secrets.token_hex(10)
            try:
                for text in COMPLAINT:
                    answer = await http.post("/chat/api/messages", json={"visitor": visitor, "text": text})
                    answer.raise_for_status()
                counts["complaints"] += 1
            except httpx.HTTPError:
                counts["webchat_errors"] += 1
            await asyncio.sleep(60 / per_minute)


async def campaigns(config: Path, database_url: str, stop: asyncio.Event, every_minutes: float) -> None:
    settings = load_settings(config, env={"DATABASE_URL": database_url})
    db = Database(database_url)
    try:
        for n in itertools.count():
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_minutes * 60)
                return
            except TimeoutError:
                now = datetime.now(UTC)
                await planning.plan(db, settings, "soak_news", f"soak-{n}", due_at=now, now=now)
    finally:
        await db.dispose()


def flat(samples: list[float], tolerance: float) -> tuple[bool, str]:
    steady = samples[WARM_UP_MINUTES:] if len(samples) > WARM_UP_MINUTES + 2 else samples
    third = max(1, len(steady) // 3)
    first, last = sum(steady[:third]) / third, sum(steady[-third:]) / third
    growth = (last - first) / first
    return growth <= tolerance, f"{first:.1f} MB -> {last:.1f} MB ({growth:+.1%})"


async def soak(minutes: float, database_url: str | None, tolerance: float) -> int:
    folder = Path(tempfile.mkdtemp(prefix="engagebot-soak-"))
    database_url = database_url or f"sqlite+aiosqlite:///{folder / 'engagebot.db'}"
    config = write_config(
        folder, staff=STAFF, routing={"fallback": "ana"}, slack={"channels": {"default": SUPPORT}},
        campaigns={"soak_news": {"kind": "news", "message": "News for {{ customer.first_name }}"}},
    )  # fmt: skip
    counts = dict.fromkeys(["telegram_done", "telegram_unanswered", "complaints", "webchat_errors"], 0)
    samples: list[float] = []
    async with BotApiStandIn() as telegram, SlackApiStandIn(users={"U0ANA": "Ana Lima"}) as slack:
        telegram.enforce_limits(global_per_second=30, per_chat_per_second=1, burst=2)
        bot = EngagebotProcess(config, database_url, folder / "bot.log", {**telegram_env(telegram), **slack_env(slack)})
        stop = asyncio.Event()
        try:
            await bot.wait_healthy()
            print(f"engagebot pid {bot.pid}, log {bot.log}; {minutes:g} minutes of traffic", flush=True)
            traffic = [
                asyncio.create_task(telegram_traffic(telegram, stop, 30, counts)),
                asyncio.create_task(webchat_traffic(bot.url, stop, 12, counts)),
                asyncio.create_task(campaigns(config, database_url, stop, 5)),
            ]
            started = time.monotonic()
            for minute in itertools.count(1):
                await asyncio.sleep(max(0.0, started + minute * 60 - time.monotonic()))
                if not bot.alive():
                    print(f"engagebot exited:\n{bot.tail()}")
                    return 1
                samples.append(bot.rss_mb())
                print(f"minute {minute:3d}: rss {samples[-1]:7.1f} MB  {counts}", flush=True)
                if minute >= minutes:
                    break
            stop.set()
            await asyncio.gather(*traffic)
        finally:
            stop.set()
            bot.stop()
    ok, summary = flat(samples, tolerance)
    answered = counts["telegram_unanswered"] == 0 and counts["webchat_errors"] == 0
    print(f"memory {'flat' if ok else 'GROWING'}: {summary}; posts to Slack: {len(slack.posts())}; {counts}")
    return 0 if ok and answered else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    parser.add_argument("--tolerance", type=float, default=0.15, help="allowed memory growth after warm-up")
    args = parser.parse_args()
    sys.exit(asyncio.run(soak(args.minutes, args.database_url, args.tolerance)))


if __name__ == "__main__":
    main()
