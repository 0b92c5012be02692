"""Queries shared by the tables that keep every version of something (flows, campaigns): the newest version of each,
and the id a poll compares to see whether anything was saved on any instance."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from bot.storage.database import Database

Row = TypeVar("Row")


def newest_of_each(
    model: type[Row], key: InstrumentedAttribute[Any], number: InstrumentedAttribute[int]
) -> Select[Any]:
    """The row with the highest `number` for each `key` (each flow's or campaign's head)."""
    latest = select(key, func.max(number).label("n")).group_by(key).subquery()
    return select(model).join(latest, (key == latest.c[key.key]) & (number == latest.c.n))


async def highest_id(db: Database, column: InstrumentedAttribute[int]) -> int:
    """Changes whenever a row is added, on any instance: what a poll compares (0 while there is none)."""
    return (await highest_ids(db, column))[0]


async def highest_ids(db: Database, *columns: InstrumentedAttribute[int]) -> tuple[int, ...]:
    """`highest_id` of each column, in one statement. Every instance polls them every few seconds while it serves
    customers: on PostgreSQL on a connection in autocommit, one round trip, where a session's read was three (BEGIN,
    SELECT, ROLLBACK) per column. SQLite reads through a session, as its other reads do."""
    query = select(*(select(func.coalesce(func.max(c), 0)).scalar_subquery() for c in columns))
    if db.is_postgres:
        async with db.statements() as conn:
            row = (await conn.execute(query)).one()
    else:
        async with db.sessions() as session:
            row = (await session.execute(query)).one()
    return tuple(int(value) for value in row)
