"""Scale on PostgreSQL: planning onboarding check-ins for many customers, and outbox claim throughput
with 1, 2 and 4 dispatcher processes.

Planning: a flow campaign that starts the onboarding flow, planned by bot.outreach.campaigns.planning.plan for
every customer (one proactive outbox row each, in chunks, resumable), in a process of its own so its
peak memory (VmHWM) is its own. Baseline, same run, same table: a process with the same imports that
writes the same number of rows with one `INSERT ... SELECT generate_series`.

Claim throughput: due sends to the web chat (its send does nothing, and it has no rate limit), one per
customer, claimed and finished by real `engagebot run` processes on one database. Baseline: a bare
asyncpg loop in one process that claims 100 rows at a time with SKIP LOCKED and marks them done.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.instances import Instance, memory_mb, seed_customers, sql, stop_all, temp_database
from bot.config import load_settings
from bot.outreach.campaigns import planning
from bot.storage.database import Database
from tests.reliability.harness import REPO, write_config

CAMPAIGN = "checkin"
DISPATCHERS = (1, 2, 4)
# One due web-chat send per customer (rows of one customer would wait for each other across processes).
SENDS = """
INSERT INTO outbox (kind, customer_id, dedupe_key, payload, proactive, status, due_at, attempts, created_at)
SELECT 'send', c.id, 'bench:' || c.id,
       json_build_object('channel', 'web', 'address', 'bench-visitor-' || c.id,
                         'replies', json_build_array(json_build_object('text', 'Hello'))),
       false, 'pending', now(), 0, now()
FROM customers c ORDER BY c.id LIMIT $1"""
# The baseline's rows: shaped like planned check-ins, without looking at customers.
GENERATED = """
INSERT INTO outbox (kind, customer_id, dedupe_key, payload, proactive, status, due_at, attempts, created_at)
SELECT 'campaign', NULL, 'baseline:' || n, '{"campaign": "checkin"}', true, 'pending', now(), 0, now()
FROM generate_series(1, $1) n"""
CLAIM = """
WITH claimed AS (
  SELECT id FROM outbox WHERE status = 'pending' AND due_at <= now() ORDER BY due_at, id LIMIT 100
  FOR UPDATE SKIP LOCKED)
UPDATE outbox o SET status = 'done', finished_at = now(), attempts = o.attempts + 1
FROM claimed WHERE o.id = claimed.id"""


def _config(folder: Path) -> Path:
    return write_config(folder, campaigns={CAMPAIGN: {"kind": "other", "flow": "onboarding"}})


# ---- planning, each side in a process of its own --------------------------------------------------


async def _plan_worker(url: str, config: Path) -> dict[str, Any]:
    settings = load_settings(config, env={"DATABASE_URL": url})
    db = Database(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    result = await planning.plan(db, settings, CAMPAIGN, "bench", due_at=now, now=now)
    seconds = time.perf_counter() - started
    await db.dispose()
    return {"rows": result.planned, "seconds": round(seconds, 2), "peak_mb": memory_mb()["peak"]}


async def _insert_worker(url: str, rows: int) -> dict[str, Any]:
    started = time.perf_counter()
    await sql(url, GENERATED, rows)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "peak_mb": memory_mb()["peak"]}


async def _in_process(*args: str) -> dict[str, Any]:
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bench_scale", "--worker", *args, stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    out, _ = await worker.communicate()
    if worker.returncode:
        raise RuntimeError(f"worker {args[0]} exited {worker.returncode}")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def _planning(url: str, config: Path, customers: int) -> dict[str, Any]:
    baseline = await _in_process("insert", url, str(customers))
    await sql(url, "TRUNCATE outbox")
    await sql(url, "VACUUM ANALYZE outbox")
    planned = await _in_process("plan", url, str(config))
    assert planned["rows"] == customers, planned
    return {
        "customers": customers, "engagebot": planned, "baseline_insert_select": baseline,
        "time_ratio_vs_baseline": round(planned["seconds"] / max(baseline["seconds"], 0.01), 1),
        "rows_per_second": round(customers / planned["seconds"]),
    }  # fmt: skip


# ---- claim throughput ----------------------------------------------------------------------------


async def _wait_done(url: str, rows: int, timeout: float) -> float:  # noqa: ASYNC109
    """Seconds from now until no sends are left pending or leased."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        left = await sql(url, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'leased')")
        if left == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{left} of {rows} rows still unfinished after {timeout:.0f}s")


async def _claims(url: str, folder: Path, rows: int, processes: int) -> dict[str, Any]:
    await sql(url, "TRUNCATE outbox")
    fleet = [Instance(folder / "config.yaml", url, folder / f"claims{processes}-{i}.log") for i in range(processes)]
    try:
        await asyncio.gather(*(i.wait_healthy() for i in fleet))
        await sql(url, SENDS, rows)  # one statement: every row is due at the same moment
        seconds = await _wait_done(url, rows, timeout=rows / 20 + 60)
    finally:
        stop_all(fleet)
    done = await sql(url, "SELECT count(*) FROM outbox WHERE status = 'done'")
    return {
        "processes": processes,
        "rows": done,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
    }


async def _bare_claims(url: str, rows: int) -> dict[str, Any]:
    await sql(url, "TRUNCATE outbox")
    await sql(url, SENDS, rows)
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        while (await conn.execute(CLAIM)) != "UPDATE 0":
            pass
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"processes": 1, "rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds)}


async def run_async(customers: int = 200_000, claim_rows: int = 20_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = _config(folder)
        async with temp_database("scale") as url:
            await seed_customers(url, max(customers, claim_rows))
            plans = await _planning(url, config, customers)
            claims = [await _claims(url, folder, claim_rows, n) for n in DISPATCHERS]
            bare = await _bare_claims(url, claim_rows)
    single = claims[0]["rows_per_second"]
    for row in claims:
        row["speedup_vs_1"] = round(row["rows_per_second"] / single, 2)
        row["ratio_vs_bare_claim_loop"] = round(row["rows_per_second"] / bare["rows_per_second"], 3)
    return {"planning": plans, "claims": claims, "baseline_bare_claim_loop": bare}


def table(report: dict[str, Any]) -> list[str]:
    plans = report["planning"]
    e, b = plans["engagebot"], plans["baseline_insert_select"]
    planned = f"plan {plans['customers']:,} check-ins, seconds"
    lines = [f"{'scale':<44} {'engagebot':>12} {'baseline':>12} {'ratio':>8}",
             f"{planned:<44} {e['seconds']:>12} {b['seconds']:>12} "
             f"{plans['time_ratio_vs_baseline']:>8}",
             f"{'  peak RSS of the planning process, MB':<44} {e['peak_mb']:>12} {b['peak_mb']:>12} "
             f"{round(e['peak_mb'] / b['peak_mb'], 2):>8}"]  # fmt: skip
    bare = report["baseline_bare_claim_loop"]["rows_per_second"]
    for row in report["claims"]:
        label = f"claim+finish rows/s, {row['processes']} dispatcher(s)"
        lines.append(f"{label:<44} {row['rows_per_second']:>12} {bare:>12} {row['speedup_vs_1']:>7}x")
    lines.append("(planning baseline: INSERT ... SELECT generate_series; claims: bare asyncpg SKIP LOCKED loop; "
                 "ratio: speed-up over 1 dispatcher)")  # fmt: skip
    return lines


def run(**kwargs: Any) -> dict[str, Any]:
    return asyncio.run(run_async(**kwargs))


def _worker(args: list[str]) -> None:
    kind, url, arg = args
    found = asyncio.run(_plan_worker(url, Path(arg)) if kind == "plan" else _insert_worker(url, int(arg)))
    print(json.dumps(found))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2:])
        sys.exit(0)
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200_000, help="check-ins to plan (1,000,000 full size)")
    parser.add_argument("--claim-rows", type=int, default=20_000, help="rows for the claim throughput runs")
    a = parser.parse_args()
    print(json.dumps(run(customers=a.customers, claim_rows=a.claim_rows), indent=2))
