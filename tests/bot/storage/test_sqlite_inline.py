"""SQLite statements run in the event loop's thread; one that meets another connection's lock waits without
blocking the loop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.storage import sqlite_inline
from bot.storage.database import Database


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)"))
    yield database
    await database.dispose()


async def test_statements_run_and_fail_like_the_driver_s(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('a'), ('b')"))
        rows = (await session.execute(text("SELECT body FROM notes ORDER BY id"))).scalars().all()
    assert rows == ["a", "b"]
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('a')"))
    async with db.transaction() as session:  # the failed transaction was rolled back; the connection still works
        assert (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 2


async def test_a_statement_locked_out_by_another_process_waits_without_blocking_the_loop(
    db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process (the CLI) holds the write lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('waited')"))

    ticker = asyncio.create_task(tick())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writer.done() and ticks >= 10  # waiting, and the loop keeps running meanwhile
    other.execute("COMMIT")
    await asyncio.wait_for(writer, 5)
    ticker.cancel()
    async with db.transaction() as session:
        assert (await session.execute(text("SELECT body FROM notes"))).scalars().all() == ["waited"]
    other.close()


async def test_a_caller_cancelled_while_waiting_for_a_lock_leaves_the_database_usable(
    db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('never')"))

    writer = asyncio.create_task(write())
    await asyncio.sleep(0.2)  # its BEGIN waits for the lock
    writer.cancel()  # the caller gives up (a timeout, a shutdown): SQLAlchemy rolls back and closes
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    other.execute("COMMIT")
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('later')"))
        assert (await session.execute(text("SELECT body FROM notes"))).scalars().all() == ["later"]
    await db.dispose()
    other.close()


async def test_a_lock_held_longer_than_the_busy_timeout_is_an_operational_error(tmp_path: Path) -> None:
    path = tmp_path / "short.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    connection = await sqlite_inline.connector(str(path), timeout=0.2)()
    cursor = await connection.cursor().__aenter__()
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await cursor.execute("BEGIN IMMEDIATE")
    assert 0.15 < time.monotonic() - started < 3
    await connection.close()
    other.execute("ROLLBACK")
    other.close()
