"""Memory of a real `engagebot run` (web chat, Telegram in webhook mode against the Bot API stand-in,
PostgreSQL): resident memory idle, then sampled while it answers many inbound web chat messages from
many customers (ten each: onboarding, an NPS and a CSAT survey, the menu), to see whether it grows.

Baseline, in the same run: a bare Python process with the same imports, doing nothing.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.instances import Instance, memory_mb, temp_database
from tests.reliability.harness import REPO, telegram_env, write_config
from tests.support.botapi_standin import BotApiStandIn

# What `engagebot run` loads for this configuration (web chat and Telegram; Slack is not configured).
IMPORTS = "import handlers.cli, handlers.server, handlers.telegram, handlers.webchat, bot.core, telegram.ext"
# A customer's ten messages: first contact (onboarding), its answers, two surveys, then the menu.
SCRIPT = ("hi", "Just for me", "no", "/nps", "9", "Quick and friendly", "/csat", "5", "menu", "thanks")
SETTLE_SECONDS = 3.0


async def _baseline_mb() -> float:
    """RSS of a bare process once the same modules are imported."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"{IMPORTS}; print('ready', flush=True); import sys; sys.stdin.read()",
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stdin is not None
    await process.stdout.readline()
    rss = memory_mb(process.pid)["rss"]
    process.stdin.close()
    await process.wait()
    return rss


async def _chat(base: str, messages: int, concurrency: int, on_progress: Any) -> int:
    """`messages` web chat messages, `concurrency` customers at a time, each customer sending SCRIPT once."""
    customers = -(-messages // len(SCRIPT))
    sent = 0
    ids = iter(range(customers))

    async def customer_loop(client: httpx.AsyncClient) -> None:
        nonlocal sent
        for n in ids:
            visitor = f"memory-bench-visitor-{n:08d}"
            for i, text in enumerate(SCRIPT):
                if sent >= messages:
                    return
                body = {"visitor": visitor, "text": text, "client_id": str(i), "name": f"Customer {n}"}
                response = await client.post(f"{base}/chat/api/messages", json=body)
                response.raise_for_status()
                sent += 1
                on_progress(sent)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(customer_loop(client) for _ in range(concurrency)))
    return sent


async def run_async(messages: int = 10_000, samples: int = 10, concurrency: int = 8) -> dict[str, Any]:
    baseline = await _baseline_mb()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_config(folder)
        async with temp_database("memory") as url, BotApiStandIn() as api:
            instance = Instance(config, url, folder / "memory.log", telegram_env(api, "webhook"))
            try:
                await instance.wait_healthy()
                await asyncio.sleep(SETTLE_SECONDS)  # startup work (migrations, first ticks) done
                idle = instance.memory_mb()["rss"]
                every = max(1, messages // samples)
                trace: list[dict[str, float]] = []

                def sample(sent: int) -> None:
                    if sent % every == 0:
                        trace.append({"messages": sent, "rss_mb": instance.memory_mb()["rss"]})

                started = time.perf_counter()
                sent = await _chat(instance.url, messages, concurrency, sample)
                seconds = time.perf_counter() - started
                await asyncio.sleep(SETTLE_SECONDS)
                after = instance.memory_mb()
            finally:
                instance.stop()
    # Growth over the second half (caches filled, pools opened by then), per 10k messages.
    first = next((s for s in trace if s["messages"] >= sent / 2), {"messages": 0, "rss_mb": idle})
    span = max(1, sent - int(first["messages"]))
    return {
        "messages": sent, "customers": -(-sent // len(SCRIPT)), "seconds": round(seconds, 1),
        "messages_per_second": round(sent / seconds, 1), "idle_rss_mb": idle, "rss_after_mb": after["rss"],
        "peak_rss_mb": after["peak"], "baseline_bare_imports_mb": baseline,
        "idle_ratio_vs_baseline": round(idle / baseline, 2),
        "growth_second_half_mb": round(after["rss"] - first["rss_mb"], 1),
        "growth_mb_per_10k_messages": round((after["rss"] - first["rss_mb"]) / span * 10_000, 2),
        "samples": trace,
    }  # fmt: skip


def table(report: dict[str, Any]) -> list[str]:
    base = report["baseline_bare_imports_mb"]
    after = f"after {report['messages']:,} web chat messages"
    return [
        f"{'memory (RSS MB)':<44} {'engagebot':>12} {'baseline':>12} {'ratio':>8}",
        f"{'idle engagebot run':<44} {report['idle_rss_mb']:>12} {base:>12} {report['idle_ratio_vs_baseline']:>8}",
        f"{after:<44} {report['rss_after_mb']:>12} {base:>12} "
        f"{round(report['rss_after_mb'] / base, 2):>8}",
        f"{'growth in the second half, MB / 10k messages':<44} {report['growth_mb_per_10k_messages']:>12}",
        "(memory baseline: a bare python process with the same imports)",
    ]  # fmt: skip


def run(**kwargs: Any) -> dict[str, Any]:
    return asyncio.run(run_async(**kwargs))


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000, help="inbound messages (100,000 full size)")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    a = parser.parse_args()
    print(json.dumps(run(messages=a.messages, samples=a.samples, concurrency=a.concurrency), indent=2))
