"""PostgreSQL connections the server ended are replaced at checkout, without a ping before every transaction."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event, text

from bot.storage.database import Database
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
