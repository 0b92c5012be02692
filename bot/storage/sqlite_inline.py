"""SQLite connections that run statements in the event loop's thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite hands every call (cursor, execute, fetch, close, commit) to a worker thread and waits for the loop to be
woken: some fifty thread switches per inbound message, each waiting for the GIL, cost more than the statements
themselves (bench/bench_inbound.py). Our statements take microseconds, so they run inline. One that must wait for
another connection's lock (SQLITE_BUSY: the CLI writing next to `engagebot run`) waits in a worker thread with the
usual busy timeout instead, so the loop never sleeps on a lock.

The objects below offer the part of aiosqlite's interface that SQLAlchemy's aiosqlite dialect uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

# Inline attempts do not wait at all: SQLITE_BUSY comes back at once and the statement moves to a thread.
_NO_WAIT = "PRAGMA busy_timeout = 0"


def connector(path: str, timeout: float) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for create_async_engine: a connection to the database file at `path`."""

    async def connect() -> InlineConnection:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        return InlineConnection(conn, timeout)

    return connect


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection, timeout: float):
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # SQLAlchemy checks it before commit and rollback
        self._tx = _RunNow()  # SQLAlchemy sets isolation_level through aiosqlite's queue
        self._timeout_ms = int(timeout * 1000)
        conn.execute(_NO_WAIT)

    def cursor(self) -> _CursorContext:
        return _CursorContext(self)

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        await self.run(self._conn.rollback)

    async def close(self) -> None:
        self._conn.close()
        self._connection = None

    def stop(self) -> None:
        """Terminate (SQLAlchemy's hard close): nothing runs in the background, so just close."""
        self._conn.close()
        self._connection = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def run(self, call: Callable[[], Any]) -> Any:
        """`call` now; if the database is locked by another connection, in a thread that waits for the lock.

        A statement refused with SQLITE_BUSY changed nothing, so running it again is safe."""
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        return await asyncio.to_thread(self._waiting, call)

    def _waiting(self, call: Callable[[], Any]) -> Any:
        self._conn.execute(f"PRAGMA busy_timeout = {self._timeout_ms}")
        try:
            return call()
        finally:
            self._conn.execute(_NO_WAIT)


class _RunNow:
    """Stands in for aiosqlite's queue of (future, function): runs the function at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class _CursorContext:
    """What `connection.cursor()` returns in aiosqlite: entered (awaited) to get the cursor."""

    def __init__(self, connection: InlineConnection):
        self._connection = connection

    async def __aenter__(self) -> InlineCursor:
        return InlineCursor(self._connection)

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class InlineCursor:
    def __init__(self, connection: InlineConnection):
        self._connection = connection
        self._cursor = connection._conn.cursor()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        await self._connection.run(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        # Rows before a busy one would already be written: executemany always runs where it may wait.
        rows = list(seq_of_parameters)
        await asyncio.to_thread(self._connection._waiting, lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value
