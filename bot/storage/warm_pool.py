"""PostgreSQL connections opened and warmed before the bot serves, so that no customer's message waits for one.

The pool opens a connection the first time more are needed at once than it holds. A new connection costs its
server process's start, then, on its first statements, the server's loading of each table's and index's
description, and asyncpg's look-up of the array types it binds (its `typeinfo_tree` query): 5 to 15 ms in all on
the benchmark machine, paid by the message in hand. The first seconds of traffic after a start opened them one at a
time, and each stall fell on a customer (bench/bench_inbound.py's fixed rate: the slowest percent of replies).

Each warmed connection has read every table's description (one simple-query round trip of `SELECT ... WHERE false`,
which plans against the table and its indexes) and asked asyncpg for the codecs of the arrays of every column type
the models use. The statements of the hot path are still prepared on each connection at their first use there."""

from __future__ import annotations

import contextlib
import re

import asyncpg
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

# What one process uses at once at a steady, light load: the inbound transaction, the marks of sent replies, the
# dispatcher's claim, a scheduled job. More are opened when more are needed, as before.
WARM_CONNECTIONS = 4
_DIALECT = postgresql.dialect()


async def warm_connections(engine: AsyncEngine, tables: list[Table], count: int = WARM_CONNECTIONS) -> None:
    """Open `count` of the pool's connections (all at once, so that they are distinct) and warm each."""
    describe = "; ".join(f"SELECT 1 FROM {table.name} WHERE false" for table in tables)
    arrays = ", ".join(f"'{{}}'::{name}[]" for name in _column_types(tables))
    async with contextlib.AsyncExitStack() as held:
        for _ in range(count):
            connection = await held.enter_async_context(engine.connect())
            driver = (await connection.get_raw_connection()).driver_connection
            if not isinstance(driver, asyncpg.Connection):
                return
            await driver.execute(describe)  # several statements, one round trip: no results wanted
            await driver.prepare(f"SELECT {arrays}")  # asyncpg looks up the types it returns


def _column_types(tables: list[Table]) -> list[str]:
    """Each column type of `tables` once, without its length: VARCHAR(100) and VARCHAR(64) bind as one."""
    columns = [column for table in tables for column in table.columns]
    found = {re.sub(r"\(.*\)", "", column.type.compile(dialect=_DIALECT)) for column in columns}
    return sorted(name for name in found if not name.endswith("]"))
