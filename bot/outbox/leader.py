"""One instance leads the scheduled planning (campaign occurrences, the daily tier recompute).

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own: when the
process dies, the server ends its session, the lock is free, and the next instance to ask takes
over. Planning is idempotent anyway (unique occurrences, dedupe keys), so leadership only keeps
the instances from doing the same work twice; it is never needed for correctness. SQLite serves one
machine, where every instance may plan.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.database import Database

log = logging.getLogger(__name__)
LEADER_LOCK_KEY = 0x656E6762  # "engb"; the migration lock uses another key


class Leadership:
    def __init__(self, db: Database):
        self.db = db
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or not self.db.is_postgres

    async def check(self) -> bool:
        """True while this instance leads; tries to take the lead when nobody holds it."""
        if not self.db.is_postgres:
            return True
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("lost the connection that held the leader lock; another instance may lead now")
                await self._drop()
        return await self._try_take()

    async def _try_take(self) -> bool:
        conn: AsyncConnection | None = None
        try:
            conn = await self.db.engine.connect()
            # Autocommit: the lock belongs to the session, and no transaction stays open while it is held.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            taken = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY})).scalar()
        except Exception as exc:
            log.warning("could not ask for the leader lock: %s", exc)
            if conn is not None:
                await conn.close()
            return False
        if not taken:
            await conn.close()
            return False
        self._conn = conn
        log.info("this instance now leads scheduled planning")
        return True

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
        except Exception:
            pass  # closing the connection frees it anyway
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                await conn.invalidate()
