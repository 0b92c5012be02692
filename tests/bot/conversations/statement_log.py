"""Every statement a piece of work sends, for the tests that count them: through SQLAlchemy, and past it
(bot/storage/plain.py) as the driver sends it (asyncpg's query logger; the trace of the sqlite3 connection, which
bot/storage/sqlite_inline.py runs statements on too), and the commits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from bot.core import Core


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def work(self) -> list[str]:
        """The statements but the transactions' BEGIN and COMMIT, and asyncpg's look-ups of the types it has not met
        on a connection yet (the sender's statement binds arrays: once per connection, not per message)."""
        return [s for s in self.statements if s.strip().rstrip(";") not in ("BEGIN", "COMMIT") and not _driver_own(s)]


def _driver_own(statement: str) -> bool:
    return "typeinfo_tree" in statement or "set_config('jit'" in statement or "current_setting('jit')" in statement


@contextlib.asynccontextmanager
async def logged_statements(core: Core) -> AsyncIterator[StatementLog]:
    log = StatementLog()
    engine = core.db.engine.sync_engine

    def through_the_driver(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        if core.db.is_postgres:
            driver.add_query_logger(lambda query: log.statements.append(query.query))
        else:
            driver._conn.set_trace_callback(log.statements.append)

    def through_sqlalchemy(*args: Any) -> None:  # (conn, cursor, statement, ...)
        log.statements.append(args[2])

    def committed(_conn: Any) -> None:
        log.commits += 1

    listeners = (("connect", through_the_driver), ("before_cursor_execute", through_sqlalchemy),
                 ("commit", committed))  # fmt: skip
    await core.db.engine.dispose()  # new connections, which log what goes past SQLAlchemy
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield log
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
