"""Messages per second through the conversation engine on SQLite, no network.

Baseline, in the same run on the same kind of database file: the least any persistent bot does
per message (find the customer, store the inbound message and one reply, commit).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.config import load_settings
from bot.core import Core
from bot.customers import records as customers
from bot.messages import Inbound
from bot.storage.database import Database
from bot.transcript import Message

REPO = Path(__file__).resolve().parent.parent
# A 5-message conversation: start the NPS survey, score, reason, then the CSAT survey and rating.
SCRIPT = ["/nps", "9", "Quick delivery and kind staff", "/csat", "5"]


def _settings(folder: Path, url: str):  # type: ignore[no-untyped-def]
    shutil.copytree(REPO / "flows", folder / "flows")
    config = folder / "config.yaml"
    config.write_text(json.dumps({"flows": {"dir": str(folder / "flows"), "hot_reload": False}}))
    return load_settings(config, env={"DATABASE_URL": url})


async def _engine_run(folder: Path, customers_count: int, concurrency: int) -> dict[str, Any]:
    settings = _settings(folder, f"sqlite+aiosqlite:///{folder / 'engine.db'}")
    core = Core(settings)
    await core.prepare()
    latencies: list[float] = []

    async def customer(i: int) -> None:
        # First contact (onboarding welcome) happens before the timed script, as in real life.
        await core.engine.handle(Inbound("bench", f"c{i}", text="hi"))
        for n, text in enumerate(SCRIPT):
            started = time.perf_counter()
            replies = await core.engine.handle(Inbound("bench", f"c{i}", text=text, message_id=f"{i}-{n}"))
            latencies.append(time.perf_counter() - started)
            assert replies, f"no reply to {text!r}"

    started = time.perf_counter()
    sem = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with sem:
            await customer(i)

    await asyncio.gather(*(limited(i) for i in range(customers_count)))
    elapsed = time.perf_counter() - started
    await core.close()
    # The warm-up "hi" of each customer is included in elapsed but not in the count: conservative.
    return _figures(len(latencies), elapsed, latencies)


async def _baseline_run(folder: Path, customers_count: int, concurrency: int) -> dict[str, Any]:
    db = Database(f"sqlite+aiosqlite:///{folder / 'baseline.db'}")
    await db.upgrade()
    latencies: list[float] = []

    async def handle(i: int, n: int, text: str) -> None:
        async with db.transaction() as session:
            ref = Inbound("bench", f"c{i}", text=text).ref
            customer = await customers.find_by_identity(session, ref)
            if customer is None:
                from datetime import UTC, datetime

                customer = await customers.create_with_identity(session, ref, datetime.now(UTC))
            session.add(Message(customer_id=customer.id, direction="in", channel="bench", text=text,
                                platform_message_id=f"{i}-{n}", payload={}))  # fmt: skip
            session.add(Message(customer_id=customer.id, direction="out", channel="bench", text="ok", payload={}))
            await session.execute(select(Message.id).limit(1))

    async def customer(i: int) -> None:
        await handle(i, -1, "hi")
        for n, text in enumerate(SCRIPT):
            started = time.perf_counter()
            await handle(i, n, text)
            latencies.append(time.perf_counter() - started)

    sem = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with sem:
            await customer(i)

    started = time.perf_counter()
    await asyncio.gather(*(limited(i) for i in range(customers_count)))
    elapsed = time.perf_counter() - started
    await db.dispose()
    return _figures(len(latencies), elapsed, latencies)


def _figures(count: int, elapsed: float, latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "messages": count,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(count / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }


async def run_async(customers_count: int = 200, concurrency: int = 20) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = await _baseline_run(Path(tmp), customers_count, concurrency)
        engine_dir = Path(tmp) / "engine"
        engine_dir.mkdir()
        ours = await _engine_run(engine_dir, customers_count, concurrency)
    return {
        "engine": ours,
        "baseline_store_and_reply": base,
        "throughput_ratio_vs_baseline": round(ours["messages_per_second"] / base["messages_per_second"], 2),
    }


def run(customers_count: int = 200, concurrency: int = 20) -> dict[str, Any]:
    return asyncio.run(run_async(customers_count, concurrency))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
