"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL on 127.0.0.1), a clock, a chat."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from bot.config import Settings, load_settings
from bot.core import Core
from bot.messages import Inbound, Media, Reply
from bot.storage.database import Database

REPO = Path(__file__).resolve().parent.parent
STARTER_FLOWS = REPO / "flows"
T = TypeVar("T")
POSTGRES_ADMIN_URL = os.environ.get("ENGAGEBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_required() -> bool:
    """In CI the PostgreSQL part must run: an unreachable server fails the run instead of skipping."""
    return bool(os.environ.get("CI") or os.environ.get("ENGAGEBOT_REQUIRE_POSTGRES"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Where PostgreSQL is required (CI), a PostgreSQL test that skips, for whatever reason, fails instead: that part of
    the suite can never pass unnoticed without having run."""
    report: pytest.TestReport = yield
    if report.skipped and postgres_required() and item.get_closest_marker("postgres") is not None:
        report.outcome = "failed"
        report.longrepr = f"a PostgreSQL test skipped where PostgreSQL is required: {report.longrepr}"
    return report


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: half again as many workers as cores. A third of the suite's time is waiting, not computing (real
    `engagebot run` processes starting, timers, a flood's rate windows, PostgreSQL's own work): with one worker per
    core the cores sat idle that long, and a third worker fills them. The suite passes on a machine loaded four times
    over, so the closer timing of one more worker per two cores is well within what its tests allow."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + max(1, cores // 2)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The reliability tests run longest (real processes, floods, real timers): queued first, the many short tests fill
    the other workers around them, where last they left one worker finishing a flood while the others sat idle."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/reliability/"))


class FixedClock:
    """The Clock port, moved by hand so waits and SLAs are tested without sleeping."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncio.wait_for(asyncpg.connect(POSTGRES_ADMIN_URL), timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {exc}"
        if postgres_required():
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)


async def _create_pg_database(template: str | None = None) -> tuple[str, str]:
    name = f"engagebot_test_{uuid.uuid4().hex[:12]}"
    conn = await _admin()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


# Migrating a new database takes about 0.3 s, copying a migrated one a few milliseconds: each worker migrates one
# SQLite file and one PostgreSQL template once, and every test gets a copy (already at head, so `prepare` is quick).
def _run_aside(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to its end from a fixture set up while a test's event loop is running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "engagebot.db"
    _run_aside(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    name, url = _run_aside(_create_pg_database())
    try:
        _run_aside(_migrate(url))
        yield name
    finally:
        _run_aside(_drop_pg_database(name))


def _pg_url(name: str) -> str:
    return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


# What a test could change in a database besides its rows: if any of it differs from the template's after a test, that
# database is dropped rather than reused. System schemas (pg_*, the temporary ones included) are left out.
_SCHEMA_FINGERPRINT = """
SELECT md5(coalesce(string_agg(fact, E'\n' ORDER BY fact), '')) FROM (
  SELECT format('column %s.%s.%s %s %s %s', n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT format('relation %s.%s %s', n.nspname, c.relname, c.relkind)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(co.oid))
    FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT format('function %s', p.oid::regprocedure)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT format('trigger %s %s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT format('schema %s', nspname) FROM pg_namespace WHERE nspname !~ '^pg_'
  UNION ALL SELECT format('extension %s', extname) FROM pg_extension
  UNION ALL SELECT format('type %s', t.oid::regtype) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT format('setting %s', setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
   WHERE d.datname = current_database()
  UNION ALL SELECT format('revision %s', version_num) FROM alembic_version
) AS facts(fact)
"""
_TABLES = """
SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
 WHERE schemaname !~ '^pg_' AND schemaname <> 'information_schema' AND tablename <> 'alembic_version'
"""
_SEQUENCES_AS_THEY_ARE = """
SELECT format('SELECT setval(%L, %s, %s)', format('%I.%I', schemaname, sequencename), coalesce(last_value, start_value),
              CASE WHEN last_value IS NULL THEN 'false' ELSE 'true' END)
  FROM pg_sequences WHERE schemaname !~ '^pg_'
"""


class PostgresPool:
    """Migrated PostgreSQL databases for one worker's tests. CREATE DATABASE from the template and DROP DATABASE take a
    second or more each on a busy 2-core machine; emptying a database a test used, so that it is again exactly as the
    template (rows deleted, sequences set back, the schema checked unchanged), takes a few milliseconds."""

    def __init__(self, template: str):
        self.template = template
        self.free: list[str] = []
        self.made: set[str] = set()

    async def learn_template(self) -> None:
        conn = await asyncpg.connect(_pg_url(self.template))
        try:
            self.fingerprint = await conn.fetchval(_SCHEMA_FINGERPRINT)
            self.empty_tables = "; ".join(f"DELETE FROM {table}" for (table,) in await conn.fetch(_TABLES))
            self.sequences_back = "; ".join(statement for (statement,) in await conn.fetch(_SEQUENCES_AS_THEY_ARE))
        finally:
            await conn.close()

    async def take(self) -> str:
        if self.free:
            return self.free.pop()
        name, _ = await _create_pg_database(self.template)
        self.made.add(name)
        return name

    async def give_back(self, name: str) -> None:
        """Empty the database for the next test, or drop it if the test changed more than rows."""
        try:
            reusable = await self._empty(name)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            reusable = False
        if reusable:
            self.free.append(name)
        else:
            self.made.discard(name)
            await _drop_pg_database(name)

    async def _empty(self, name: str) -> bool:
        admin = await _admin()
        try:  # what the test left connected (a pool, a killed process's session) would hold locks on the rows
            await admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        finally:
            await admin.close()
        conn = await asyncpg.connect(_pg_url(name))
        try:
            if await conn.fetchval(_SCHEMA_FINGERPRINT) != self.fingerprint:
                return False
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")  # no foreign-key order to follow
                await conn.execute(self.empty_tables)
                if self.sequences_back:
                    await conn.execute(self.sequences_back)
            return True
        finally:
            await conn.close()

    async def drop_all(self) -> None:
        for name in sorted(self.made):
            await _drop_pg_database(name)


@pytest.fixture(scope="session")
def _postgres_pool(_postgres_template: str) -> Iterator[PostgresPool]:
    pool = PostgresPool(_postgres_template)
    _run_aside(pool.learn_template())
    try:
        yield pool
    finally:
        _run_aside(pool.drop_all())


async def _fresh_database(request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "engagebot.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if migrated:
        pool: PostgresPool = request.getfixturevalue("_postgres_pool")
        name = await pool.take()
        try:
            yield _pg_url(name)
        finally:
            await pool.give_back(name)
        return
    name, url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A new database, already migrated to the head."""
    async for url in _fresh_database(request, tmp_path, migrated=True):
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty database: for the tests of the migrations themselves."""
    async for url in _fresh_database(request, tmp_path, migrated=False):
        yield url


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """A private copy of the starter flows, so a test may edit them."""
    target = tmp_path / "flows"
    shutil.copytree(STARTER_FLOWS, target)
    return target


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def make_settings(tmp_path: Path, database_url: str, flows_dir: Path, **sections: dict) -> Settings:
    """Settings as a user would write them: a config.yaml in a folder, plus DATABASE_URL."""
    data = {"flows": {"dir": str(flows_dir), "hot_reload": False}, **sections}
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return load_settings(config, env={"DATABASE_URL": database_url})


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir)


@pytest.fixture
async def core(settings: Settings, clock: FixedClock) -> AsyncIterator[Core]:
    core = Core(settings, clock=clock)
    problems = await core.prepare()
    assert not problems, problems
    try:
        yield core
    finally:
        await core.close()


@dataclass
class Chat:
    """One customer talking to the engine; keeps the last buttons so tests can press them by label."""

    core: Core
    address: str = "customer-1"
    channel: str = "web"
    name: str | None = "Ana Lima"
    last: list[Reply] = field(default_factory=list)
    counter: int = 0

    async def send(self, text: str | None = None, *, choice: str | None = None, media: Media | None = None,
                   message_id: str | None = None) -> list[Reply]:  # fmt: skip
        self.counter += 1
        inbound = Inbound(
            channel=self.channel, address=self.address, text=text, choice=choice, media=media,
            message_id=message_id, display_name=self.name,
        )  # fmt: skip
        replies = await self.core.engine.handle(inbound)
        self.last = replies
        return replies

    async def say(self, text: str) -> str:
        """Send text; return all reply texts joined, for readable assertions."""
        return texts(await self.send(text))

    async def press(self, label: str) -> str:
        for reply in reversed(self.last):
            for button in reply.buttons:
                if button.label == label:
                    return texts(await self.send(choice=button.value))
        raise AssertionError(f"no button {label!r} in {[b.label for r in self.last for b in r.buttons]}")

    def buttons(self) -> list[str]:
        return [b.label for r in self.last for b in r.buttons]


def texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


@pytest.fixture
def chat(core: Core) -> Chat:
    return Chat(core)


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("DATABASE_URL", "ENGAGEBOT_CONFIG", "TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    yield
