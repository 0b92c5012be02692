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


async def _fresh_database(request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "engagebot.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("_postgres_template") if migrated else None
    name, url = await _create_pg_database(template)
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
