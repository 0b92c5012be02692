"""The few statements every message runs, written straight through the driver's connection.

SQLAlchemy's execution of one statement (session, connection, execution context, result) costs about 50 µs of
Python on SQLite, where sqlite3 runs the same small INSERT in about 1 µs, and 150 µs on PostgreSQL against 60 for
asyncpg's own (bench/bench_inbound.py --profile). Here the SQL and the parameters' conversions are SQLAlchemy's
own: each statement is compiled once per dialect and set of parameters, and each value goes through its type's bind
processor, so a row is written exactly as through the session. Pending ORM changes are flushed first, as the
session's autoflush would; errors come back as SQLAlchemy's (an IntegrityError for a duplicate message id, as
before; a lost connection as one `is_unavailable` knows).

On PostgreSQL only inside a transaction that has begun (SQLAlchemy sends BEGIN with its first statement): before
that, as for SQLite files opened without the inline connection (sqlite_inline.py), the statement goes through the
session. What runs here is not seen by SQLAlchemy's statement events or its echo log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from bot.storage.dialects import dialect_of
from bot.storage.sqlite_inline import InlineConnection

_DRIVER = "bot.storage.plain.driver"  # session.info: (the session's transaction, its driver connection or None)


@dataclass(frozen=True, slots=True)
class _Compiled:
    statement: ClauseElement  # held, so the id it is cached under is never reused while cached
    sql: str
    bound: tuple[tuple[str, Callable[[Any], Any] | None], ...]  # each parameter in order, and its conversion


_compiled: dict[tuple[int, tuple[str, ...], str], _Compiled | None] = {}  # None: the session runs it


async def execute(session: AsyncSession, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
    """Run `statement` with `params` in the session's transaction; the rows it returns (RETURNING), if any."""
    driver = await _driver(session)
    if isinstance(driver, asyncpg.Connection) and not driver.is_in_transaction():
        driver = None  # SQLAlchemy's BEGIN has not gone yet: its execute sends it
    sync = session.sync_session
    if driver is not None and sync.autoflush and (sync.new or sync.dirty or sync.deleted):
        await session.flush()  # as the session's execute would: the statement may read what is pending
    compiled = _compile(statement, tuple(params), sync.get_bind().dialect) if driver is not None else None
    if compiled is None:
        result = await session.execute(statement, dict(params))
        return result.all() if result.returns_rows else []
    args = [params[name] if convert is None else convert(params[name]) for name, convert in compiled.bound]
    if isinstance(driver, InlineConnection):
        try:
            return await driver.execute_now(compiled.sql, args)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error) from exc
    try:
        return await driver.fetch(compiled.sql, *args)  # type: ignore[union-attr]
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(compiled.sql, args, exc) from exc
    except asyncpg.PostgresError as exc:  # is_unavailable reads its SQLSTATE (a restart, a failover)
        raise DBAPIError(compiled.sql, args, exc) from exc
    except asyncpg.InterfaceError as exc:
        raise InterfaceError(compiled.sql, args, exc) from exc


async def _driver(session: AsyncSession) -> InlineConnection | asyncpg.Connection | None:
    """The driver's connection under the session's transaction, looked up once per transaction (through
    SQLAlchemy's async layers the look-up cost half of what it saves): SQLite's inline one, or asyncpg's;
    None for any other."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cached[1]  # type: ignore[no-any-return]
    if dialect_of(session) not in ("sqlite", "postgresql"):
        return None
    connection = await session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
    driver = (await connection.get_raw_connection()).driver_connection
    usable = driver if isinstance(driver, InlineConnection | asyncpg.Connection) else None
    session.info[_DRIVER] = (session.sync_session.get_transaction(), usable)
    return usable


def _compile(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> _Compiled | None:
    """The statement's SQL for these parameters, its parameters' order and conversions; None for one this module
    cannot run as given (a parameter the session would fill in itself, such as a column's Python-side default)."""
    key = (id(statement), keys, dialect.name)
    if key in _compiled:
        return _compiled[key]
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup or ())
    found = None
    if set(names) <= set(keys):
        bound = tuple((name, compiled.binds[name].type.bind_processor(dialect)) for name in names)
        found = _Compiled(statement, compiled.string, bound)
    _compiled[key] = found
    return found
