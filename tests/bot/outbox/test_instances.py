"""What several instances on one database share: the send rate, and who leads the planning."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from bot.outbox.leader import Leadership
from bot.outbox.ratelimit import SharedRateLimiter
from bot.storage.database import Database


async def migrated(url: str) -> Database:
    db = Database(url)
    await db.upgrade()
    return db


async def test_two_instances_together_keep_to_one_send_rate(database_url: str) -> None:
    first, second = await migrated(database_url), Database(database_url)
    try:
        rate, sends_each = 40.0, 20
        limiters = [SharedRateLimiter(db, {"telegram": rate}) for db in (first, second)]
        started = time.monotonic()
        stamps: list[float] = []

        async def send_all(limiter: SharedRateLimiter) -> None:
            for _ in range(sends_each):
                await limiter.acquire("telegram")
                stamps.append(time.monotonic() - started)

        await asyncio.gather(*(send_all(limiter) for limiter in limiters))
        # 40 sends at 40/s: the last slot is 39/40 s after the first, whichever instance takes it.
        assert max(stamps) >= (2 * sends_each - 1) / rate * 0.95
        # ... and no one-second window holds more than the rate (plus the send already at its start).
        stamps.sort()
        busiest = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
        assert busiest <= rate + 1
        # A channel without a limit (the web chat) never waits.
        assert await limiters[0].acquire("web") == 0.0
    finally:
        await first.dispose()
        await second.dispose()


# Advisory locks are PostgreSQL's; on SQLite (one machine) every instance may plan.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_one_instance_leads_and_another_takes_over_when_it_dies(database_url: str) -> None:
    first, second = await migrated(database_url), Database(database_url)
    leader, follower = Leadership(first), Leadership(second)
    try:
        assert await leader.check() is True
        assert await follower.check() is False
        assert await leader.check() is True  # it keeps the lead while its session lives

        # The leader's process dies: the server ends its session (here: terminated from outside).
        conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            # Only this test's database (tests run in parallel), and wait until the backend is gone: without a
            # timeout pg_terminate_backend only sends the signal, and the follower could ask before the lock is freed.
            await conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                0x656E6762,
            )
        finally:
            await conn.close()
        assert await follower.check() is True
        assert await leader.check() is False  # the old leader notices and does not plan any more
        await follower.release()
        assert await leader.check() is True
    finally:
        await leader.release()
        await follower.release()
        await first.dispose()
        await second.dispose()
