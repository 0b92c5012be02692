"""SQLite's WAL checkpoints in a worker thread, so the event loop never copies the log into the database.

In WAL mode every commit appends the pages it changed to the log, and by default the commit that takes the log past
1,000 pages (4 MB) copies it back into the database file first. Statements run in the event loop's thread
(sqlite_inline.py), so that copy held up every customer's message: 4-7 ms about every half second at 100 messages
a second, which was the tail of the inbound latency (bench/bench_inbound.py, fixed rate). `engagebot run` copies
the log every `EVERY_SECONDS` from a connection of its own, in a worker thread (sqlite3 lets go of the GIL while
SQLite works); the loop's connections still copy it themselves past `BACKSTOP_PAGES`, should the worker ever fall
behind. A PASSIVE checkpoint never waits for a lock nor blocks a writer (what a reader still needs is copied next
time), and one with nothing to copy costs next to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

log = logging.getLogger(__name__)

EVERY_SECONDS = 1.0  # each copies a page once however often it changed: every 0.1 s cost 15% more CPU a message
BACKSTOP_PAGES = 10_000  # PRAGMA wal_autocheckpoint of the loop's connections (40 MB): a worker that fell behind


class WalCheckpoints:
    """Copies the WAL of the database file at `path` back into it, from a thread, while running."""

    def __init__(self, path: str):
        self.path = path
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sqlite-wal-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        conn = await asyncio.to_thread(_connect, self.path)
        failing = False
        copying: asyncio.Future[None] | None = None
        try:
            while True:
                await asyncio.sleep(EVERY_SECONDS)
                copying = asyncio.ensure_future(asyncio.to_thread(_checkpoint, conn))
                try:
                    await asyncio.shield(copying)
                except sqlite3.Error as exc:  # the loop's connections still copy the log past the backstop
                    if not failing:
                        log.warning("SQLite WAL checkpoint failed (%s); trying again", exc)
                    failing = True
                else:
                    failing = False
        finally:
            if copying is not None:  # a stop while the thread copies: the connection closes after it
                await asyncio.wait([copying])
            conn.close()


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # this connection writes nothing; it only checkpoints
    return conn


def _checkpoint(conn: sqlite3.Connection) -> None:
    # Its one row read, so the statement is done with when the thread is (not when the next one starts).
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
