"""PostgreSQL stops under a running `engagebot run` (Telegram long polling) while customers are chatting, stays down
a few seconds while they keep writing, and comes back.

The test runs a PostgreSQL server of its own (initdb in a temporary folder, its own port) and stops and starts it
with pg_ctl: a real restart, where the server ends every session (asyncpg sees its connections closed, then
"connection refused", then "the database system is starting up") — what a proxy dropping connections would not
show. The machine's shared server is never touched.

After the restart nothing the customers wrote is lost or handled twice, every conversation finishes, and /healthz
said 503 while the database was away and 200 again after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import asyncpg
import httpx
import pytest

from bot.core import Core
from bot.messages import Inbound, Reply
from bot.outbox.models import DONE, OutboxItem
from bot.storage.database import Database
from tests.conftest import FixedClock, make_settings, postgres_required
from tests.reliability.harness import (
    SCRIPT,
    Customer,
    EngagebotProcess,
    PrivatePostgres,
    eventually,
    extra_copies,
    inbound_ids,
    interleaved,
    outbox_statuses,
    postgres_activity,
    postgres_bindir,
    processes,
    survey_answers,
    telegram_env,
    transcript_out,
    write_config,
)
from tests.support.botapi_standin import BotApiStandIn

pytestmark = pytest.mark.postgres

CUSTOMERS = 4
DOWN_SECONDS = 3


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = postgres_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if postgres_required():
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)
    server = PrivatePostgres(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


async def stuck(bot: EngagebotProcess, database_url: str) -> str:
    """What a timed-out wait shows: the bot's tasks and log, and the database's sessions and locks."""
    try:
        activity = await postgres_activity(database_url)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        activity = f"postgres sessions: unreadable ({exc!r})"
    return f"{bot.diagnose()}\n{activity}"


async def waiting_for_a_lock(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The sessions waiting for a lock, seen afresh: inside a transaction pg_stat_activity is a snapshot taken at its
    first read, so a poll that began before the bot's insert arrived would never see it wait."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )


async def health(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(f"{url}/healthz")).status_code


async def test_postgres_restarted_during_traffic_loses_no_message(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    conn = await asyncpg.connect(private_postgres.url)
    await conn.execute("CREATE DATABASE engagebot")
    await conn.close()
    database_url = private_postgres.url.rsplit("/", 1)[0] + "/engagebot"
    config = write_config(tmp_path)
    async with BotApiStandIn() as api:
        bot = EngagebotProcess(config, database_url, tmp_path / "bot.log", telegram_env(api))
        why = partial(stuck, bot, database_url)
        customers = [Customer(api, 9000 + n, name=f"Customer{n}") for n in range(CUSTOMERS)]
        with processes(bot):
            await bot.wait_healthy()
            await api.wait_for(lambda: api.calls("getUpdates"), timeout=30)
            sent = interleaved(customers, rounds=2)
            await eventually(lambda: all(len(c.messages()) >= 3 for c in customers), what=why)

            private_postgres.stop("fast")
            sent += interleaved(customers, rounds=2)  # written while the database is down
            await asyncio.sleep(DOWN_SECONDS)
            assert await health(bot.url) == 503
            private_postgres.start()

            sent += interleaved(customers, rounds=len(SCRIPT) - 4)
            done = lambda: all(c.finished() for c in customers)  # noqa: E731
            await eventually(done, timeout=60, what=why)
            assert await health(bot.url) == 200
            assert bot.alive()
        log = bot.tail()

    db = Database(database_url)
    try:
        assert await inbound_ids(db) == {f"u{update_id}": 1 for update_id in sent}, log
        for customer in customers:
            assert extra_copies(customer.messages(), await transcript_out(db, str(customer.chat_id))) == 0, log
        assert await survey_answers(db) == [(9, "Great service")] * CUSTOMERS
        assert set(await outbox_statuses(db)) == {"done"}
    finally:
        await db.dispose()


async def test_a_session_ended_by_the_server_mid_message_loses_nothing(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    """What a restart does to a query in flight, made deterministic: the bot's insert of a customer's message waits
    on a lock, and the server ends its session (`pg_terminate_backend`, the same FATAL 57P01 a shutdown sends)."""
    admin = await asyncpg.connect(private_postgres.url)
    await admin.execute("CREATE DATABASE engagebot")
    await admin.close()
    database_url = private_postgres.url.rsplit("/", 1)[0] + "/engagebot"
    config = write_config(tmp_path)
    async with BotApiStandIn() as api:
        bot = EngagebotProcess(config, database_url, tmp_path / "bot.log", telegram_env(api))
        why = partial(stuck, bot, database_url)
        customer = Customer(api, 9100)
        with processes(bot):
            await bot.wait_healthy()
            await api.wait_for(lambda: api.calls("getUpdates"), timeout=30)
            sent = customer.say_next(2)
            await eventually(lambda: len(customer.messages()) >= 3, what=why)

            blocker = await asyncpg.connect(database_url)
            try:
                transaction = blocker.transaction()
                await transaction.start()
                await blocker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
                sent += customer.say_next()  # its insert waits for the lock
                pids = await eventually(lambda: waiting_for_a_lock(blocker), what=why)
                for row in pids:
                    await blocker.execute("SELECT pg_terminate_backend($1)", row["pid"])
                await transaction.rollback()
            finally:
                await blocker.close()
            sent += customer.say_next(len(SCRIPT) - 3)
            await eventually(customer.finished, timeout=30, what=why)
            assert bot.alive()
        log = bot.tail()

    db = Database(database_url)
    try:
        assert await inbound_ids(db) == {f"u{update_id}": 1 for update_id in sent}, log
        assert extra_copies(customer.messages(), await transcript_out(db, str(customer.chat_id))) == 0, log
        assert await survey_answers(db) == [(9, "Great service")]
    finally:
        await db.dispose()


async def test_replies_sent_as_the_database_stops_are_marked_sent_once_it_is_back(
    tmp_path: Path, flows_dir: Path, clock: FixedClock, private_postgres: PrivatePostgres
) -> None:
    """Telegram took a batch of replies, and the database stopped before the batch was marked sent (the restart
    test's failure under load): it is marked once the database is back. Left leased, it held the customer's next
    replies for its lease (a minute), and then the dispatcher sent it a second time."""
    admin = await asyncpg.connect(private_postgres.url)
    await admin.execute("CREATE DATABASE engagebot")
    await admin.close()
    database_url = private_postgres.url.rsplit("/", 1)[0] + "/engagebot"
    core = Core(make_settings(tmp_path, database_url, flows_dir), clock=clock)
    assert not await core.prepare()
    try:
        first = await core.engine.handle_for_delivery(Inbound("telegram", "9200", text="hi"))
        sent: list[int] = []
        restarts: list[asyncio.Task[None]] = []

        async def send_then_stop_the_database(replies: Sequence[Reply]) -> None:
            sent.append(len(replies))
            await asyncio.to_thread(private_postgres.stop, "fast")

            async def start_again() -> None:
                await asyncio.sleep(DOWN_SECONDS)
                await asyncio.to_thread(private_postgres.start)

            restarts.append(asyncio.create_task(start_again()))

        await core.deliveries.deliver(first, send_then_stop_the_database)
        await restarts[0]

        assert sent == [len(first.replies)]
        async with core.db.sessions() as session:
            assert (await session.get(OutboxItem, first.outbox_id)).status == DONE  # type: ignore[union-attr]
        second = await core.engine.handle_for_delivery(Inbound("telegram", "9200", text="Just for me"))
        assert second.outbox_id is not None and not second.held  # answered at once, not queued behind the first
    finally:
        await core.close()
