"""A message campaign through real `engagebot run` processes to a Bot API stand-in that enforces
Telegram's limits (429 with retry_after above `limit` messages/s overall or 1/s per chat).

engagebot is configured with telegram.max_per_second = limit and outreach.broadcast_share = 1.0, so
the whole limit is the campaign's (in production 0.8 of it is, leaving room for replies). Figures:
achieved rate / limit, 429s, duplicates, lost. Baseline, in the same run against the same stand-in:
a naive loop sending the same messages through python-telegram-bot's Bot with its AIORateLimiter.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
from telegram.error import NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bench.instances import REPO, Instance, seed_customers, sql, stop_all, temp_database
from bot.config import load_settings
from bot.outreach.campaigns import planning
from bot.storage.database import Database
from tests.reliability.harness import TOKEN, telegram_env, write_config
from tests.support.botapi_standin import BotApiStandIn

FIRST_CHAT = 10_000


@dataclass(frozen=True)
class Setup:
    customers: int = 6000
    limit: float = 200  # the stand-in's overall limit, and engagebot's telegram.max_per_second
    instances: int = 1
    concurrency: int = 8
    batch: int = 100
    share: float = 1.0  # engagebot's outreach.broadcast_share


def _config(folder: Path, setup: Setup) -> Path:
    return write_config(
        folder,
        outreach={"concurrency": setup.concurrency, "batch_size": setup.batch, "broadcast_share": setup.share},
        telegram={"max_per_second": setup.limit, "max_per_chat_per_second": 1},
        campaigns={"news": {"kind": "news", "message": "News for {{ customer.first_name }}"}},
        webchat={"enabled": False},
    )  # fmt: skip


def _figures(api: BotApiStandIn, wanted: set[str], limit: float, share: float) -> dict[str, Any]:
    """Rate between the first and the last accepted message, as the stand-in timed their arrival.
    `wanted`: the chats that must have their message by now (lost = those without)."""
    ok = [r for r in api.calls("sendMessage") if r["ok"]]
    per_chat = Counter(str(r["chat_id"]) for r in ok)
    span = ok[-1]["time"] - ok[0]["time"] if len(ok) > 1 else 0.0
    rate = (len(ok) - 1) / span if span > 0 else 0.0
    return {
        "messages": len(ok),
        "seconds": round(span, 2),
        "rate_per_second": round(rate, 1),
        "rate_of_limit": round(rate / limit, 3),
        "rate_of_configured_share": round(rate / (limit * share), 3),
        # The spacing of accepted messages: 1000/limit ms each at best; a long tail is send rate lost for good.
        "gap_ms_p50_p90_p99": _percentiles([(b["time"] - a["time"]) * 1000 for a, b in pairwise(ok)]),
        "too_many_requests": api.too_many_requests,
        "duplicates": sum(n - 1 for n in per_chat.values()),
        "lost": len(wanted - set(per_chat)),
    }


async def _engagebot(folder: Path, setup: Setup, code: Path = REPO) -> dict[str, Any]:
    customers, limit = setup.customers, setup.limit
    async with temp_database("outbound", code) as url:
        await seed_customers(url, customers, first_chat=FIRST_CHAT)
        config = _config(folder, setup)
        settings = load_settings(config, env={"DATABASE_URL": url})
        db = Database(url)
        now = datetime.now(UTC)
        started = time.perf_counter()
        result = await planning.plan(db, settings, "news", "bench", due_at=now, now=now)
        planned_seconds = time.perf_counter() - started
        await db.dispose()
        assert result.planned == customers, result
        async with BotApiStandIn() as api:
            api.enforce_limits(global_per_second=int(limit), per_chat_per_second=1)
            env = telegram_env(api, "webhook")
            fleet = [Instance(config, url, folder / f"instance{i}.log", env, code) for i in range(setup.instances)]
            try:
                await asyncio.gather(*(i.wait_healthy() for i in fleet))
                cpu_at_start = sum(_cpu_seconds(i.pid) for i in fleet)
                deadline = time.monotonic() + customers / limit * 4 + 60
                while time.monotonic() < deadline:
                    left = await sql(url, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'leased')")
                    if left == 0:
                        break
                    await asyncio.sleep(0.5)
                rss = [round(i.rss_mb(), 1) for i in fleet]
                cpu = sum(_cpu_seconds(i.pid) for i in fleet) - cpu_at_start
            finally:
                stop_all(fleet)
            figures = _figures(api, await _finished_chats(url), limit, setup.share)
        figures["planning_seconds"] = round(planned_seconds, 2)
        # CPU the instances spent sending (startup excluded): what limits the rate on a small machine, and
        # barely moved by other work on it, unlike the rate.
        figures["instance_cpu_ms_per_message"] = round(cpu * 1000 / max(figures["messages"], 1), 2)
        figures["instance_rss_mb"] = rss
        figures["unfinished_at_deadline"] = left
        if left:
            figures["log_tail"] = fleet[0].tail(1500)
        return figures


def _percentiles(values: list[float]) -> list[float]:
    ordered = sorted(values)
    return [round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2) for q in (0.5, 0.9, 0.99) if ordered]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _finished_chats(url: str) -> set[str]:
    """The chats whose outbox row is finished (a row still pending at the deadline is late, not lost)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """SELECT i.address FROM outbox o JOIN channel_identities i ON i.customer_id = o.customer_id
               WHERE o.status NOT IN ('pending', 'leased')"""
        )
    finally:
        await conn.close()
    return {row["address"] for row in rows}


async def _naive_loop(customers: int, limit: float) -> dict[str, Any]:
    """Every message through PTB's Bot with AIORateLimiter(limit/s, retrying 429s), many at once."""
    async with BotApiStandIn() as api:
        api.enforce_limits(global_per_second=int(limit), per_chat_per_second=1)
        limiter = AIORateLimiter(overall_max_rate=limit, overall_time_period=1, max_retries=10)
        bot = ExtBot(TOKEN, base_url=api.base_url, rate_limiter=limiter, request=HTTPXRequest(256))
        gate = asyncio.Semaphore(256)
        failed = 0

        async def send(n: int) -> None:
            nonlocal failed
            async with gate:
                try:
                    await bot.send_message(FIRST_CHAT + n, f"News for Customer {n + 1}")
                except (RetryAfter, NetworkError):  # a dropped connection must not lose the other side's figures
                    failed += 1

        async with bot:
            await asyncio.gather(*(send(n) for n in range(customers)))
        figures = _figures(api, {str(FIRST_CHAT + n) for n in range(customers)}, limit, 1.0)
        figures["gave_up"] = failed
        return figures


async def run_async(before: Path | None = None, **setup: Any) -> dict[str, Any]:
    """`setup`: Setup's fields; `before`: another checkout (`git archive` of an older commit), measured the
    same way in the same run."""
    chosen = Setup(**setup)
    report: dict[str, Any] = {"customers": chosen.customers, "limit_per_second": chosen.limit,
                              "instances": chosen.instances, "broadcast_share": chosen.share}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if before is not None:
            report["before"] = await _engagebot(Path(tmp) / "before", chosen, before)
        report["engagebot"] = await _engagebot(Path(tmp) / "now", chosen)
    report["baseline_ptb_aioratelimiter"] = baseline = await _naive_loop(chosen.customers, chosen.limit)
    rate = report["engagebot"]["rate_per_second"]
    report["rate_ratio_vs_baseline"] = round(rate / max(baseline["rate_per_second"], 0.1), 3)
    return report


def table(report: dict[str, Any]) -> list[str]:
    """Rows for `python -m bench`: engagebot, the last checkout if measured, the naive loop."""
    limit, n = report["limit_per_second"], report["customers"]
    lines = [f"{'outbound: ' + f'{n:,} messages, limit {limit:g}/s':<44} {'rate/limit':>10} {'429s':>6} "
             f"{'dupl.':>6} {'lost':>6} {'CPU ms/msg':>10}"]  # fmt: skip
    ours = f"engagebot x{report['instances']} (share {report['broadcast_share']:g})"
    sides = [("engagebot", ours), ("before", "  same, before the fixes"),
             ("baseline_ptb_aioratelimiter", "PTB Bot + AIORateLimiter loop")]  # fmt: skip
    for key, label in sides:
        if key in report:
            r = report[key]
            lines.append(f"{label:<44} {r['rate_of_limit']:>10} {r['too_many_requests']:>6} {r['duplicates']:>6} "
                         f"{r['lost']:>6} {r.get('instance_cpu_ms_per_message', ''):>10}")  # fmt: skip
    return lines


def run(**kwargs: Any) -> dict[str, Any]:
    return asyncio.run(run_async(**kwargs))


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in vars(Setup()).items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--before", type=Path, help="another checkout to measure in the same run")
    print(json.dumps(run(**vars(parser.parse_args())), indent=2))
