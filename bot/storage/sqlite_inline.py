"""SQLite connections that run statements in the event loop's thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite hands every call (cursor, execute, fetch, close, commit) to a worker thread and waits for the loop to be
woken: some fifty thread switches per inbound message, each waiting for the GIL, cost more than the statements
themselves (bench/bench_inbound.py). Our statements take microseconds, so they run inline. One that meets another
connection's lock (SQLITE_BUSY: the CLI writing next to `engagebot run`) is tried again after short sleeps, as
SQLite's busy handler would, but the loop goes on meanwhile; it fails after the same busy timeout. No thread ever
touches a connection, so a cancelled caller or a pool shutdown cannot close one under a running statement.

The objects below offer the part of aiosqlite's interface that SQLAlchemy's aiosqlite dialect uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

FIRST_RETRY = 0.001  # seconds before trying a busy statement again, doubling up to LAST_RETRY
LAST_RETRY = 0.05


def connector(path: str, timeout: float) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for create_async_engine: a connection to the database file at `path`."""

    async def connect() -> InlineConnection:
        # busy_timeout 0: SQLITE_BUSY comes back at once, and `run` waits without blocking the loop.
        conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        return InlineConnection(conn, timeout)

    return connect


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection, timeout: float):
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # SQLAlchemy checks it before commit and rollback
        self._tx = _RunNow()  # SQLAlchemy sets isolation_level through aiosqlite's queue
        self.timeout = timeout

    def cursor(self) -> _CursorContext:
        return _CursorContext(self)

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        await self.run(self._conn.rollback)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close (SQLAlchemy's hard close too): nothing runs in the background."""
        self._conn.close()
        self._connection = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def execute_now(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """One statement straight on the connection, past SQLAlchemy (bot/storage/plain.py): its rows, if any."""
        return await self.run(lambda: self._conn.execute(sql, parameters).fetchall())  # type: ignore[no-any-return]

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def run(self, call: Callable[[], Any]) -> Any:
        """`call` now; while another connection holds the lock, again after growing sleeps, up to the timeout.

        A statement refused with SQLITE_BUSY changed nothing, so running it again is safe."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        delay = FIRST_RETRY
        while True:
            try:
                return call()
            except sqlite3.OperationalError as exc:
                left = deadline - loop.time()
                if not _busy(exc) or left <= 0:
                    raise
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, LAST_RETRY)


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
        rows = list(seq_of_parameters)
        if self._connection._conn.in_transaction:
            # Our transactions begin IMMEDIATE: holding the write lock, no row can meet a busy lock.
            await self._connection.run(lambda: self._cursor.executemany(sql, rows))
        else:
            # Each row commits on its own, so a retry after a busy row would write the earlier ones twice: wait
            # in SQLite's busy handler instead (it blocks the loop; SQLAlchemy never gets here, it always BEGINs).
            self._connection._conn.execute(f"PRAGMA busy_timeout = {int(self._connection.timeout * 1000)}")
            try:
                self._cursor.executemany(sql, rows)
            finally:
                self._connection._conn.execute("PRAGMA busy_timeout = 0")
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
