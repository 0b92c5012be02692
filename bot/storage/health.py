"""Whether the database accepts a write, for /healthz: a read alone says "ok" on a read-only file, a read-only
replica after a failover, or a full disk, while every message the bot receives then fails to be stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, column, table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.storage.base import UTCDateTime
from bot.storage.database import Database, is_unavailable

HEARTBEAT = "healthz"
# The heartbeat is one row of job_marks (bot.outbox.models.JobMark: a name and a moment), which storage may not
# import (it sits below the features), so the two columns it writes are named here. No table of its own is needed.
_MARKS = table("job_marks", column("name", String), column("last_run_at", UTCDateTime()))


class NotWritable(Exception):
    """The database refused the heartbeat write; `kind` is read-only, unavailable or error."""

    def __init__(self, kind: str, cause: BaseException):
        super().__init__(f"{kind}: {type(cause).__name__}")
        self.kind = kind


async def write_heartbeat(db: Database, now: datetime) -> None:
    """Upsert the heartbeat row (when /healthz last wrote); raises NotWritable when the database refuses."""
    insert = pg_insert if db.is_postgres else sqlite_insert
    statement = insert(_MARKS).values(name=HEARTBEAT, last_run_at=now)
    statement = statement.on_conflict_do_update(index_elements=["name"], set_={"last_run_at": now})
    try:
        async with db.transaction() as session:
            await session.execute(statement)
    except Exception as exc:
        raise NotWritable(_kind(exc), exc) from exc


def _kind(exc: BaseException) -> str:
    text = str(exc).lower()
    # SQLite: "attempt to write a readonly database"; PostgreSQL: "cannot execute INSERT in a read-only transaction".
    if "readonly" in text or "read-only" in text:
        return "read-only"
    return "unavailable" if is_unavailable(exc) else "error"
