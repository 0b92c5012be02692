"""PostgreSQL connections the server ended are replaced at checkout, without a ping before every transaction."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event, text

from bot.storage.database import Database
from bot.storage.warm_pool import WARM_CONNECTIONS
from tests.conftest import POSTGRES_ADMIN_URL


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_connection_the_server_ended_is_replaced_before_use(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            before = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", before)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the loop reads the server's goodbye and the closed socket

        statements: list[str] = []
        event.listen(db.engine.sync_engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql))
        async with db.transaction() as session:  # no error: a fresh connection was checked out
            after = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert after != before
        assert statements == ["SELECT pg_backend_pid()"]  # and no ping was sent first
    finally:
        await db.dispose()


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_warming_opens_the_connections_a_light_load_needs_before_any_is_needed(database_url: str) -> None:
    """`engagebot run` warms the pool before serving: the first transactions at once find their connections open
    (each one a message would otherwise wait for), and the array types the hot statements bind are known to asyncpg
    on each of them."""
    db = Database(database_url)
    opened: list[object] = []
    event.listen(db.engine.sync_engine, "connect", lambda dbapi_connection, _record: opened.append(dbapi_connection))
    try:
        await db.warm()
        assert len(opened) == WARM_CONNECTIONS

        async def transaction() -> int:
            async with db.transaction() as session:
                pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await asyncio.sleep(0.05)  # all at once
                return int(pid)

        pids = await asyncio.gather(*(transaction() for _ in range(WARM_CONNECTIONS)))
        assert len(set(pids)) == WARM_CONNECTIONS and len(opened) == WARM_CONNECTIONS  # none opened meanwhile
        for dbapi_connection in opened:
            codecs = dbapi_connection.driver_connection._protocol.get_settings()  # asyncpg's, per connection
            assert codecs.get_data_codec(1007) is not None  # int4[], as every sent reply's mark binds
    finally:
        await db.dispose()


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_warm_up_that_fails_is_a_warning_and_the_database_still_serves(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as session:  # a table of the models' gone: its warm-up statement fails
            await session.execute(text("DROP TABLE survey_responses"))
        await db.warm()
        assert "not warmed" in caplog.text
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()
