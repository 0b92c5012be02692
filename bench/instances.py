"""Shared by the outbound, scale and memory benchmarks: a throwaway PostgreSQL database, customers
seeded in bulk SQL, real `engagebot run` processes (tests/reliability/harness.py's, optionally from
another checkout to compare before and after in one run), and a process's memory as Linux counts it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import Any

import asyncpg

from tests.reliability.harness import REPO, EngagebotProcess

ADMIN_URL = os.environ.get("ENGAGEBOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def temp_database(prefix: str, code: Path = REPO) -> AsyncIterator[str]:
    """A fresh PostgreSQL database, migrated by the checkout `code`, dropped afterwards; yields its URL."""
    name = f"engagebot_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    await sql(ADMIN_URL, f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        env = {**os.environ, "PYTHONPATH": str(code), "DATABASE_URL": url}
        command = [sys.executable, "-m", "handlers.cli", "db", "upgrade"]
        migrate = await asyncio.create_subprocess_exec(*command, cwd=code, env=env, stdout=PIPE, stderr=STDOUT)
        output, _ = await migrate.communicate()
        if migrate.returncode:
            raise RuntimeError(f"migrating {name} failed: {output.decode(errors='replace')}")
        yield url
    finally:
        await sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed_customers(url: str, count: int, *, first_chat: int = 10_000, channel: str = "telegram") -> None:
    """`count` subscribed customers, each with one chat identity (address first_chat + n), in two statements."""
    await sql(
        url,
        """INSERT INTO customers (display_name, tier, attributes, tags, subscribed, unreachable, created_at)
           SELECT 'Customer ' || n, 'standard', '{}', '[]', true, false, now() FROM generate_series(1, $1) n""",
        count,
    )
    await sql(
        url,
        """INSERT INTO channel_identities (customer_id, channel, address, created_at)
           SELECT id, $1, ($2 + row_number() OVER (ORDER BY id) - 1)::text, now() FROM customers""",
        channel,
        first_chat,
    )
    await sql(url, "ANALYZE")


async def sql(url: str, query: str, *args: Any) -> Any:
    """One statement on its own connection; returns the first value of the first row (or None)."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


class Instance(EngagebotProcess):
    """`engagebot run` from the checkout `code` (this one by default)."""

    def __init__(
        self, config: Path, database_url: str, log: Path, env: Mapping[str, str] | None = None, code: Path = REPO
    ):
        self.code = code
        super().__init__(config, database_url, log, env)

    def start(self) -> None:
        self.env["PYTHONPATH"] = str(self.code)
        super().start()

    def memory_mb(self) -> dict[str, float]:
        return memory_mb(self.pid)


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident memory now (VmRSS) and its high-water mark (VmHWM), in MB, from /proc."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found["rss" if key == "VmRSS" else "peak"] = round(int(value.split()[0]) / 1024, 1)
    return found


def stop_all(instances: list[Instance]) -> None:
    for instance in instances:
        instance.stop()
