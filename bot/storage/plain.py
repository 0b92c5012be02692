"""The few statements every message runs, written straight through the driver's connection.

SQLAlchemy's execution of one statement (session, connection, execution context, result) costs about 50 µs of
Python on SQLite, where sqlite3 runs the same small INSERT in about 1 µs, and 150 µs on PostgreSQL against 60 for
asyncpg's own (bench/bench_inbound.py --profile). Here the SQL and the parameters' conversions are SQLAlchemy's
own: each statement is compiled once per dialect and set of parameters, and each value goes through its type's bind
processor, so a row is written exactly as through the session. Pending ORM changes are flushed first, as the
session's autoflush would; errors come back as SQLAlchemy's (an IntegrityError for a duplicate message id, as
before; a lost connection as one `is_unavailable` knows).

On PostgreSQL the transaction's BEGIN, which SQLAlchemy's asyncpg adapter sends with its first statement, is sent
here the same way (`_begin`); where that cannot be done, as for SQLite files opened without the inline connection
(sqlite_inline.py), the statement goes through the session. What runs here is not seen by SQLAlchemy's statement
events or its echo log. `load` and `add_loaded` read and insert ORM objects this way, made the session's own as its
loading would make them.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import insert, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.instrumentation import ClassManager
from sqlalchemy.orm.state import InstanceState
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import Select
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from bot.storage import later
from bot.storage.dialects import dialect_of
from bot.storage.sqlite_inline import InlineConnection

_Entity = TypeVar("_Entity")
# session.info: (the session's transaction, its driver connection or None, SQLAlchemy's adapter of it)
_DRIVER = "bot.storage.plain.driver"


@dataclass(frozen=True, slots=True)
class _Compiled:
    statement: ClauseElement  # held, so the id it is cached under is never reused while cached
    sql: str
    # Each parameter in order: the name of the caller's value and its conversion, or (None, None, the value) for
    # one the statement carries (a constant in a WHERE clause), converted already.
    bound: tuple[tuple[str | None, Callable[[Any], Any] | None, Any], ...]
    # The conversion of each column a SELECT returns, as SQLAlchemy reads them (e.g. a time in UTC).
    results: tuple[Callable[[Any], Any] | None, ...]


_compiled: dict[tuple[int, tuple[str, ...], str], _Compiled | None] = {}  # None: the session runs it


async def execute(
    session: AsyncSession | AsyncConnection, statement: Executable, params: Mapping[str, Any], *,
    autoflush: bool = True,
) -> Sequence[Any]:  # fmt: skip
    """Run `statement` with `params` in the session's transaction; the rows it returns (RETURNING), if any.
    `autoflush=False` for a statement that reads nothing the session may have pending (an INSERT whose foreign
    keys are written already): the ORM's flush is its largest cost. On an autocommit connection (PostgreSQL's
    `Database.statements`) the statement commits on its own."""
    if isinstance(session, AsyncConnection):
        return await _autocommit(session, statement, params)
    found = await _straight(session, statement, params, autoflush=autoflush)
    if found is None:
        with contextlib.nullcontext() if autoflush else session.no_autoflush:
            result = await session.execute(statement, dict(params))
        return result.all() if result.returns_rows else []
    return found[1]


async def read(
    session: AsyncSession, statement: Select[Any], params: Mapping[str, Any]
) -> list[tuple[Any, ...]] | None:
    """The rows of a SELECT as plain tuples, each value as SQLAlchemy reads it; None when it cannot run straight now
    (PostgreSQL before the transaction's BEGIN; see the module docstring): the caller reads through the session."""
    found = await _straight(session, statement, params)
    if found is None:
        return None
    compiled, rows = found
    results = compiled.results
    return [tuple(v if f is None or v is None else f(v) for v, f in zip(row, results, strict=True)) for row in rows]


async def load(
    session: AsyncSession, cls: type[_Entity], statement: Select[Any], params: Mapping[str, Any]
) -> list[_Entity]:
    """The objects of `statement` (a `select(cls)`), as the session's own: read straight where it can, each row made
    into an object as the ORM's loading would (`as_loaded`)."""
    rows = await read(session, statement, params)
    if rows is None:
        return list((await session.execute(statement, dict(params))).scalars())
    keys = _keys(cls)
    sync = session.sync_session
    return [as_loaded(sync, cls, dict(zip(keys, row, strict=True))) for row in rows]


async def add_loaded(session: AsyncSession, made: Any) -> None:
    """Insert a new ORM object's row straight, as the ORM's flush would write it (each column not set takes its
    default), and make the object the session's own, as if loaded: its id set, nothing pending. Where the ORM's
    flush of one new row cost about half a millisecond of Python, this costs a tenth of it."""
    ((made_id,),) = await execute(session, _insert_returning_id(type(made).__mapper__.local_table), row_of(made))
    adopt(session, made, made_id)


def add_later(session: AsyncSession, made: Any, made_id: int) -> None:
    """As `add_loaded`, with its id drawn already (a sequence's nextval): the object is the session's own now, and
    its row is inserted with the transaction's next statement (later.py), with its values then."""
    row_of(made)  # each column not set takes its default, on the object, as the INSERT will write it
    adopt(session, made, made_id)
    later.insert_later(session, type(made).__mapper__.local_table, made)


def row_of(made: Any) -> dict[str, Any]:
    """The row (by column) the ORM's flush would insert for a new object but its id: each column not set takes its
    default, on the object too, so none is left to load later (which an async session cannot)."""
    state = inspect(made)
    values: dict[str, Any] = {}
    for key, column in type(made).__mapper__.columns.items():
        if column.primary_key:
            continue
        if key in state.dict:
            values[column.key] = state.dict[key]
            continue
        default = column.default
        value = None if default is None else default.arg(None) if default.is_callable else default.arg
        setattr(made, key, value)
        values[column.key] = value
    return values


def written(session: AsyncSession, made: Any) -> None:
    """`made`'s row is in the database as the object is now (a statement of this module wrote it, or is about to in
    this transaction): the ORM's flush has nothing of it to write. The object stays the session's own, unchanged, as
    after a flush: a later change to it is flushed as usual. Expunging it did the same for 60-70 µs of a message's
    CPU (its cascades, the identity map), and a later change was then lost."""
    if made not in session:
        return
    state = instance_state(made)
    if loads_as_the_orm(session.sync_session):
        state._commit_all(state.dict, session.sync_session.identity_map)
    else:
        session.expunge(made)


def adopt(session: AsyncSession, made: Any, made_id: int) -> None:
    """A new object whose row (`row_of`) is inserted already, as the session's own: as if loaded, nothing pending."""
    made.id = made_id
    make_transient_to_detached(made)
    session.add(made)


@functools.cache
def _insert_returning_id(table: Any) -> Executable:
    assert not any(c.server_default is not None for c in table.columns if not c.primary_key), table.name
    return insert(table).returning(table.c.id)


def as_loaded(session: Session, cls: type[_Entity], values: dict[str, Any]) -> _Entity:
    """The session's object for this row of `cls`'s columns (by attribute): the one it holds already, as the ORM's
    loading keeps it, or one made from the row and added as if loaded (persistent, nothing changed)."""
    key = identity_key(cls, values["id"])
    held = session.identity_map.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    if loads_as_the_orm(session):
        return _load_as_the_orm(session, cls, key, values)
    made = cls(**values)
    make_transient_to_detached(made)  # as loaded: every column set, none changed
    session.add(made)
    return made


def _load_as_the_orm(session: Session, cls: type[_Entity], key: Any, values: dict[str, Any]) -> _Entity:
    """What SQLAlchemy's loading does with a row (orm/loading.py `_instance`): a new instance without __init__, its
    values put in its dict, keyed in the identity map, committed as unchanged. 13 µs an object, against 37 through
    the constructor (an attribute event per column), `make_transient_to_detached` and `Session.add` (its cascades);
    a message reads two or three. These are SQLAlchemy's internal names (`loads_as_the_orm`): where one is missing,
    the public way above is taken, and a test fails."""
    made = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    state = instance_state(made)
    state.dict.update(values)
    state.key = key
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, key)  # type: ignore[attr-defined]
    state._commit_all(state.dict, session.identity_map)
    return made  # type: ignore[no-any-return]


def loads_as_the_orm(session: Session) -> bool:
    """Whether this SQLAlchemy has what `_load_as_the_orm` uses (looked up once per kind of identity map)."""
    return hasattr(session, "hash_key") and _has_internals(type(session.identity_map))


@functools.cache
def _has_internals(identity_map: type) -> bool:
    return (
        hasattr(identity_map, "_add_unpresent")
        and hasattr(InstanceState, "_commit_all")
        and hasattr(ClassManager, "new_instance")
    )


@functools.cache
def _keys(cls: type[Any]) -> tuple[str, ...]:
    return tuple(cls.__mapper__.columns.keys())


async def _straight(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any], *, autoflush: bool = True
) -> tuple[_Compiled, Sequence[Any]] | None:
    """The statement as compiled here and the rows the driver returned; None when the session must run it."""
    driver, adapter = await _driver(session)
    if isinstance(driver, asyncpg.Connection) and not driver.is_in_transaction() and not await _begin(adapter, driver):
        return None  # SQLAlchemy's BEGIN has not gone yet, and only its execute can send it
    if driver is None:
        return None
    sync = session.sync_session
    compiled = _compile(statement, tuple(params), sync.get_bind().dialect)
    if compiled is None:
        return None
    if later.pending(sync):
        await _write_later(session)
    if autoflush and sync.autoflush and (sync.new or sync.dirty or sync.deleted):
        await session.flush()  # as the session's execute would: the statement may read what is pending
    args = _args(compiled, params)
    if isinstance(driver, InlineConnection):
        try:
            return compiled, await driver.execute_now(compiled.sql, args)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error) from exc
    return compiled, await _fetch(driver, compiled.sql, args)


async def _write_later(session: AsyncSession) -> None:
    """The rows pending for a later statement (later.py), written before any other statement, which may read them."""
    for table, values in later.take_all(session.sync_session):
        await execute(session, _insert(table), values, autoflush=False)


@functools.cache
def _insert(table: Any) -> Executable:
    return insert(table)


async def _autocommit(conn: AsyncConnection, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
    """A statement on an autocommit connection, straight to asyncpg (each outbox mark is one: 0.21 ms of CPU a mark,
    0.30 through SQLAlchemy's connection); through the connection where it cannot go straight."""
    driver = (await conn.get_raw_connection()).driver_connection
    compiled = _compile(statement, tuple(params), conn.dialect) if isinstance(driver, asyncpg.Connection) else None
    if compiled is None or driver.is_in_transaction():
        result = await conn.execute(statement, dict(params))
        return result.all() if result.returns_rows else []
    args = _args(compiled, params)
    try:
        return await _fetch(driver, compiled.sql, args)
    except DBAPIError as exc:
        if _connection_lost(exc):
            await conn.invalidate()  # as SQLAlchemy's own execute does: the pool opens a new one for the next caller
        raise


def _connection_lost(exc: DBAPIError) -> bool:
    """The session is gone (SQLSTATE classes 08 and 57P: a restart, a failover, the network), not the statement."""
    code = str(getattr(exc.orig, "sqlstate", None) or "")
    return isinstance(exc, InterfaceError) or code.startswith(("08", "57P"))


def _args(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    """The statement's parameters in order, each converted as SQLAlchemy's execution would."""
    return [
        value if name is None else params[name] if f is None else f(params[name]) for name, f, value in compiled.bound
    ]


async def _fetch(driver: asyncpg.Connection, sql: str, args: list[Any]) -> Sequence[Any]:
    """asyncpg's rows, its errors as SQLAlchemy's (as the session would raise them)."""
    try:
        return await driver.fetch(sql, *args)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, args, exc) from exc
    except asyncpg.PostgresError as exc:  # is_unavailable reads its SQLSTATE (a restart, a failover)
        raise DBAPIError(sql, args, exc) from exc
    except asyncpg.InterfaceError as exc:
        raise InterfaceError(sql, args, exc) from exc


async def _driver(session: AsyncSession) -> tuple[InlineConnection | asyncpg.Connection | None, Any]:
    """The driver's connection under the session's transaction, and SQLAlchemy's adapter of it, looked up once per
    transaction (through SQLAlchemy's async layers the look-up cost half of what it saves): SQLite's inline one,
    or asyncpg's; None for any other."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cached[1], cached[2]
    if dialect_of(session) not in ("sqlite", "postgresql"):
        return None, None
    connection = await session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    usable = driver if isinstance(driver, InlineConnection | asyncpg.Connection) else None
    session.info[_DRIVER] = (session.sync_session.get_transaction(), usable, raw.dbapi_connection)
    return usable, raw.dbapi_connection


async def _begin(adapter: Any, driver: asyncpg.Connection) -> bool:
    """Send the transaction's BEGIN as SQLAlchemy's asyncpg adapter would with its first statement; False where it
    cannot be done here (an autocommit connection, or an adapter without these methods: the session runs the
    statement then). Through the session, the first statement of each transaction cost about twice its plain run."""
    start, mutex = getattr(adapter, "_start_transaction", None), getattr(adapter, "_execute_mutex", None)
    if start is None or mutex is None:
        return False
    async with mutex:  # as the adapter's own execute: one thing on the connection at a time
        if not driver.is_in_transaction():
            await start()  # its own state (SQLAlchemy 2.0's `_started`, 2.1's `_transaction`) follows
    return bool(driver.is_in_transaction())


def _compile(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> _Compiled | None:
    """The statement's SQL for these parameters, its parameters' order and conversions; None for one this module
    cannot run as given (a value the session would work out itself, such as a column's Python-side default)."""
    key = (id(statement), keys, dialect.name)
    if key in _compiled:
        return _compiled[key]
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    found = None
    if not (compiled.insert_prefetch or compiled.update_prefetch):  # type: ignore[attr-defined]
        bound = []
        for name in compiled.positiontup or ():
            param = compiled.binds[name]
            convert = param.type.dialect_impl(dialect).bind_processor(dialect)  # as SQLAlchemy's execution does
            if name in keys:
                bound.append((name, convert, None))
            else:  # carried by the statement
                value = param.effective_value
                bound.append((None, None, value if convert is None or value is None else convert(value)))
        columns = getattr(statement, "selected_columns", ())
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        found = _Compiled(statement, compiled.string, tuple(bound), results)
    _compiled[key] = found
    return found
