"""The operator's endpoints: /healthz says ok only while the database accepts a write, /metrics optionally needs
a token, and the start-up report says which."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.config import Settings, load_settings
from bot.outbox.models import JobMark
from bot.storage.database import Database
from handlers.server import build_app, channel_report
from tests.conftest import POSTGRES_ADMIN_URL, FixedClock
from tests.handlers.slack.harness import eventually
from tests.support.botapi_standin import serve_asgi

METRICS_TOKEN = "metrics-token-0123456789"
Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def settings_for(tmp_path: Path, database_url: str, flows_dir: Path, **env: str) -> Settings:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"flows": {"dir": str(flows_dir), "hot_reload": False}}), encoding="utf-8")
    return load_settings(config, env={"DATABASE_URL": database_url, **env})


@pytest.fixture
def serve(tmp_path: Path, flows_dir: Path, clock: FixedClock) -> Serve:
    @asynccontextmanager
    async def serving(database_url: str, **env: str) -> AsyncIterator[httpx.AsyncClient]:
        app = build_app(settings_for(tmp_path, database_url, flows_dir, **env), clock=clock, background=False)
        async with app.router.lifespan_context(app), serve_asgi(app) as url, httpx.AsyncClient(base_url=url) as http:
            yield http

    return serving


# ---- /healthz ------------------------------------------------------------------------------------------------------


async def test_healthz_writes_a_heartbeat_each_time(serve: Serve, database_url: str, clock: FixedClock) -> None:
    async with serve(database_url) as http:
        first = await http.get("/healthz")
        clock.advance(seconds=30)
        second = await http.get("/healthz")

    assert (first.status_code, first.json()["status"], second.status_code) == (200, "ok", 200)
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            beat = (await session.execute(select(JobMark.last_run_at).where(JobMark.name == "healthz"))).scalar_one()
    finally:
        await db.dispose()
    assert beat == clock.now()


async def test_healthz_is_503_when_a_sqlite_file_is_read_only(serve: Serve, tmp_path: Path) -> None:
    file = tmp_path / "engagebot.db"
    async with serve(f"sqlite+aiosqlite:///{file}") as http:  # created and migrated
        assert (await http.get("/healthz")).status_code == 200
    # Opened read-only, as SQLite does for a file it may not write (root may write any file, so chmod would not do).
    async with serve(f"sqlite+aiosqlite:///file:{file}?mode=ro&uri=true") as http:
        answer = await http.get("/healthz")

    assert answer.status_code == 503
    assert answer.json() == {"status": "error", "database": "read-only",
                             "reason": "the database is read-only: messages cannot be stored"}  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_healthz_is_503_while_postgresql_refuses_writes_and_ok_again_after(
    serve: Serve, database_url: str
) -> None:
    name = make_url(database_url).database
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)

    async def read_only(on: bool) -> None:
        # As after a failover to a replica: new sessions are read-only, and the old ones are gone.
        setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
        await admin.execute(f'ALTER DATABASE "{name}" {setting}')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)

    try:
        async with serve(database_url) as http:
            assert (await http.get("/healthz")).status_code == 200
            await read_only(True)
            # A connection ended by the server may fail once more before the pool replaces it ("unavailable").
            refused = await eventually(lambda: health_is(http, 503, "read-only"))
            await read_only(False)
            await eventually(lambda: health_is(http, 200, None))
    finally:
        await admin.close()

    assert refused["reason"] == "the database is read-only: messages cannot be stored"


async def health_is(http: httpx.AsyncClient, status: int, database: str | None) -> dict | None:
    answer = await http.get("/healthz")
    if answer.status_code == status and answer.json().get("database") == database:
        return answer.json()
    return None


# ---- /metrics ------------------------------------------------------------------------------------------------------


async def test_metrics_are_open_without_a_token(serve: Serve, tmp_path: Path) -> None:
    async with serve(f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}") as http:
        answer = await http.get("/metrics")

    assert answer.status_code == 200 and "engagebot" in answer.text


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        (f"Basic {METRICS_TOKEN}", 401),
        (f"Bearer {METRICS_TOKEN}x", 401),
        (f"Bearer {METRICS_TOKEN}", 200),
        (f"bearer {METRICS_TOKEN}", 200),
    ],
)
async def test_with_a_token_metrics_need_it(
    serve: Serve, tmp_path: Path, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with serve(f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}", ENGAGEBOT_METRICS_TOKEN=METRICS_TOKEN) as http:
        answer = await http.get("/metrics", headers=headers)

    assert answer.status_code == status
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert METRICS_TOKEN not in answer.text


def test_the_start_up_report_says_whether_metrics_need_a_token(tmp_path: Path, flows_dir: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}"
    open_line = next(line for line in channel_report(settings_for(tmp_path, url, flows_dir)) if "metrics" in line)
    guarded = channel_report(settings_for(tmp_path, url, flows_dir, ENGAGEBOT_METRICS_TOKEN=METRICS_TOKEN))
    guarded_line = next(line for line in guarded if "metrics" in line)

    assert open_line.endswith("/metrics")
    assert guarded_line.endswith("/metrics (needs Authorization: Bearer <ENGAGEBOT_METRICS_TOKEN>)")
    assert METRICS_TOKEN not in "\n".join(guarded)
