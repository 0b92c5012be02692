"""SQLite's WAL is copied back into the database file by a worker thread while the service runs, not by the
commits of the event loop's thread (bot/storage/wal_checkpoints.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.storage.database import Database

ROWS = 3000  # about 1,500 pages of 4 KB with their index: past SQLite's default checkpoint of 1,000


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
        await session.execute(text("CREATE INDEX ix_notes_body ON notes (body)"))
    yield database
    await database.dispose()


async def _write_rows(db: Database) -> None:
    for start in range(0, ROWS, 100):  # many commits, as many messages make
        async with db.transaction() as session:
            rows = [{"body": f"{n:05d} " + "x" * 1000} for n in range(start, start + 100)]
            await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), rows)


def _rows_in_the_file(db: Database, tmp_path: Path) -> int:
    """Rows in the database file itself, not counting what is still only in the WAL."""
    conn = sqlite3.connect(f"file:{tmp_path / 'wal.db'}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM notes").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0  # the table itself is still only in the WAL
    finally:
        conn.close()


async def test_the_worker_copies_the_log_into_the_database_file_within_a_moment(db: Database, tmp_path: Path) -> None:
    db.start_wal_checkpoints()
    await _write_rows(db)
    for _ in range(100):
        if _rows_in_the_file(db, tmp_path) == ROWS:
            break
        await asyncio.sleep(0.05)
    assert _rows_in_the_file(db, tmp_path) == ROWS


async def test_the_event_loops_commits_leave_the_copying_to_the_worker(db: Database, tmp_path: Path) -> None:
    """Past SQLite's default 1,000 pages, a commit would have copied the log itself, holding up the event loop."""
    await _write_rows(db)
    assert _rows_in_the_file(db, tmp_path) == 0
    async with db.transaction() as session:  # everything is there for a reader, from the WAL
        assert (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == ROWS
