"""The async engine, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn

from bot.storage import json_text, sqlite_inline
from bot.storage.base import Base
from bot.storage.wal_checkpoints import BACKSTOP_PAGES, WalCheckpoints
from bot.storage.warm_pool import warm_connections

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant: serialises migrations when several instances start at once on PostgreSQL.
MIGRATION_LOCK_KEY = 7_311_042
SQLITE_BUSY_TIMEOUT = 30  # seconds a SQLite statement waits for another connection's lock
POSTGRES_POOL_SIZE = 20  # connections per process: polling handles 16 customers at once, webhook requests wait


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://, sqlite:///) and pick async drivers."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be reached, or ended our session (a restart, a failover, the network): the same
    work, tried again a little later, can succeed. PostgreSQL's "terminating connection due to administrator
    command" and "the database system is starting up" reach us as a plain DBAPIError: SQLSTATE classes 08
    (connection exception) and 57P (operator intervention) tell them apart from errors in the work itself."""
    if isinstance(exc, OperationalError | InterfaceError | OSError):
        return True
    if isinstance(exc, DBAPIError):
        code = str(getattr(exc.orig, "sqlstate", None) or "")
        return exc.connection_invalidated or code.startswith(("08", "57P"))
    return False


def url_password(url: str) -> str:
    """The password in a database URL ("" when none, or when it is not a URL): a secret for the log mask."""
    try:
        return make_url(url).password or ""
    except Exception:
        return ""


def redact_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class DatabaseUnusable(Exception):
    """The database cannot be used at all: a server that cannot be reached, a database or folder that does not
    exist, a refused login. The message is one line saying what is wrong and how to fix it, never the password."""


def unusable(exc: BaseException, url: str) -> DatabaseUnusable | None:
    """`exc` (raised while connecting or migrating) as one line for a person, or None when it is something else."""
    parsed = make_url(url)
    chain = _causes(exc)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_unusable(chain, parsed.database or "")
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    codes = {str(getattr(e, "sqlstate", "") or "") for e in chain} - {""}
    if "3D000" in codes:
        return DatabaseUnusable(
            f'database "{parsed.database}" does not exist on the PostgreSQL server at {where}: create it '
            f"(createdb -h {parsed.host or 'localhost'} -p {parsed.port or 5432}"
            f"{' -U ' + parsed.username if parsed.username else ''} {parsed.database}) or change DATABASE_URL"
        )
    if codes & {"28P01", "28000"}:
        return DatabaseUnusable(
            f"the PostgreSQL server at {where} refused the login of user {parsed.username or '(none)'}: check the "
            "user and password in DATABASE_URL"
        )
    if codes & {"57P03"}:
        return DatabaseUnusable(f"the PostgreSQL server at {where} is starting up or shutting down: try again")
    if any(isinstance(e, OSError) for e in chain):
        reason = next(_os_reason(e) for e in chain if isinstance(e, OSError))
        return DatabaseUnusable(
            f"cannot reach the PostgreSQL server at {where} ({reason}): is it running? DATABASE_URL names it"
        )
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it, outermost first (SQLAlchemy wraps the driver's error, which may wrap an OSError)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _sqlite_unusable(chain: list[BaseException], file: str) -> DatabaseUnusable | None:
    folder = Path(file).resolve().parent if file and file != ":memory:" else None
    if not any(isinstance(e, OperationalError | sqlite3.OperationalError) for e in chain):
        return None
    if folder is not None and not folder.is_dir():
        return DatabaseUnusable(
            f"the folder of the SQLite database {file} does not exist ({folder}): create it, or set DATABASE_URL "
            "to a file in an existing folder"
        )
    message = next((str(e) for e in chain if isinstance(e, sqlite3.OperationalError)), "")
    if "unable to open" in message or "readonly" in message or "read-only" in message:
        return DatabaseUnusable(f"cannot open the SQLite database {file} ({message}): check the file's permissions")
    return None


class Database:
    """Owns the engine; hands out one session per unit of work (an inbound message, a job)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": json_text.dumps,
            "json_deserializer": json_text.loads,
        }
        file = _sqlite_file(self.url) if self.is_sqlite else None
        # Its WAL copied back by a worker thread while `engagebot run` serves (wal_checkpoints.py).
        self._wal_checkpoints = WalCheckpoints(file) if file is not None else None
        if file is not None:
            kwargs["async_creator"] = sqlite_inline.connector(file, SQLITE_BUSY_TIMEOUT)
        elif self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
        else:
            # No overflow: connections past pool_size were closed on return and opened again on the next burst.
            # Last in, first out: at a light load the same few connections take every transaction, their
            # statements prepared and caches warm. First in, first out, a light load went round every connection a
            # burst had opened, each preparing each statement again (the outbox's claim: 0.3-1.7 ms of the event
            # loop each time, under a customer's turn).
            kwargs.update(pool_size=POSTGRES_POOL_SIZE, max_overflow=0, pool_use_lifo=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout=file is None)  # inline ones wait without blocking
        else:
            _drop_closed_postgres_connections(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer. Queueing writers of this process here is far cheaper than letting
        # them collide on the file lock, where SQLite's busy handler sleeps in growing steps.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        if self._write_lock is None:
            async with _in_transaction(self.sessions()) as session:
                yield session
            return
        # SQLite's as SQLAlchemy runs it: its session's close hands over to a task, a turn of the event loop with
        # the writer's lock held, and the messages that come meanwhile queue for the next batch (group_commit.py).
        # Without that turn (the inline connection never yields), 20% fewer messages a second went through.
        async with self._write_lock, self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncSession | AsyncConnection]:
        """For work that is one statement: on PostgreSQL a connection where each statement commits on its own,
        which saves the BEGIN and COMMIT round trips of a transaction; on SQLite a transaction, behind the one
        writer like every other."""
        if self._write_lock is not None:
            async with self.transaction() as session:
                yield session
            return
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to `revision` (safe to call from several instances at once). Every command
        starts with it, so a database that cannot be used at all is reported here, as DatabaseUnusable."""
        try:
            await self._migrate("upgrade", revision)
        except Exception as exc:
            problem = unusable(exc, self.url)
            if problem is None:
                raise
            raise problem from exc

    async def downgrade(self, revision: str) -> None:
        """Undo migrations down to `revision` (going back a release)."""
        await self._migrate("downgrade", revision)

    async def _migrate(self, direction: str, revision: str) -> None:
        async with self.engine.connect() as conn:
            # A migration that rebuilds a SQLite table drops the old one, and with foreign keys on SQLite would
            # first delete its rows and cascade to every child table. The pragma is ignored inside a transaction,
            # so it is set before; such a migration runs PRAGMA foreign_key_check itself before it commits.
            if self.is_sqlite:
                await conn.run_sync(_sqlite_foreign_keys, False)
            try:
                async with conn.begin():
                    if self.is_postgres:
                        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
                    await conn.run_sync(_run_alembic, direction, revision)
            finally:
                if self.is_sqlite:
                    await _sqlite_foreign_keys_back_on(conn)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    def start_wal_checkpoints(self) -> None:
        """SQLite (a file): copy the WAL back into the database from a worker thread until `dispose`, instead of
        in the commits of the event loop's thread (wal_checkpoints.py)."""
        if self._wal_checkpoints is not None:
            self._wal_checkpoints.start()

    async def warm(self) -> None:
        """PostgreSQL: a few of the pool's connections opened and warmed before serving (warm_pool.py). Only an
        optimisation: if it fails, the bot serves anyway, and the pool opens connections when they are needed."""
        if not self.is_postgres:
            return
        try:  # every model's table is in the metadata by the time the bot serves
            await warm_connections(self.engine, list(Base.metadata.sorted_tables))
        except Exception as exc:
            log.warning("database connections not warmed before serving: %s", exc)

    async def dispose(self) -> None:
        if self._wal_checkpoints is not None:
            await self._wal_checkpoints.stop()
        await self.engine.dispose()


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _run_alembic(connection: Connection, direction: str, revision: str) -> None:
    from alembic import command

    if direction == "upgrade" and revision == "head" and _current_revision(connection) in _heads():
        return  # at the head already (every start after the first): alembic would read every migration script again
    getattr(command, direction)(_alembic_config(connection), revision)


@lru_cache(maxsize=1)
def _heads() -> tuple[str, ...]:
    """The migrations' head revision, read from their scripts once per process (they do not change under it)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    return tuple(heads) if len(heads) == 1 else ()  # several heads: alembic's own upgrade says what is wrong


async def _sqlite_foreign_keys_back_on(conn: AsyncConnection) -> None:
    """A connection that cannot turn them back on is closed rather than handed out again with the keys off."""
    try:
        await conn.run_sync(_sqlite_foreign_keys, True)
    except Exception as exc:  # whatever failed, the connection must not be reused
        log.warning("closing a SQLite connection whose foreign keys could not be turned back on: %s", exc)
        await conn.invalidate()


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """On the DB-API connection itself: through SQLAlchemy the statement would begin a transaction first."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


@asynccontextmanager
async def _in_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """`async with session, session.begin()` as SQLAlchemy's asyncio layer runs it, less two of its hand-overs to a
    greenlet and a task: the transaction's start takes no connection yet (the first statement does), and its end
    leaves none to release but where a commit or rollback was cut short. About 50 µs of every transaction's CPU
    (PostgreSQL's: see `transaction` for SQLite's)."""
    sync = session.sync_session
    transaction = sync.begin()
    transaction.__enter__()
    try:
        try:
            yield session
        except BaseException as exc:
            await greenlet_spawn(transaction.__exit__, type(exc), exc, exc.__traceback__)  # rolls back
            raise
        await greenlet_spawn(transaction.__exit__, None, None, None)  # commits (rolls back if that fails)
    finally:
        if sync.get_transaction() is None:
            sync.close()  # forgets its objects; no connection is held any more
        else:  # the end cut short (a cancellation): closed as AsyncSession's own exit does, even if cancelled again
            await asyncio.shield(asyncio.ensure_future(session.close()))


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _drop_closed_postgres_connections(engine: AsyncEngine) -> None:
    """A pooled connection the server ended (a restart, a failover) is replaced at checkout.

    pool_pre_ping did this with BEGIN, a ping and ROLLBACK: three round trips before every transaction.
    asyncpg already knows when the server closed the socket; a connection lost without a word fails on
    first use instead, and is_unavailable() makes the caller try again."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.driver_connection is not None and record.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")


def _sqlite_file(url: str) -> str | None:
    """The database file of a plain SQLite URL (no query options, not in memory): what runs inline."""
    parsed = make_url(url)
    if parsed.query or not parsed.database or parsed.database == ":memory:":
        return None
    return parsed.database


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout: bool) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so writers queue on the lock instead of failing."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        pragmas = ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"]
        if busy_timeout:
            pragmas.append(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000}")
        else:  # inline: a worker thread copies the WAL back while `engagebot run` serves (wal_checkpoints.py)
            pragmas.append(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
