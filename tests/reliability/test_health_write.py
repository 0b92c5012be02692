"""Issue 18, smaller findings: /healthz said "ok" while the database refused writes, so a monitor or a load balancer
kept sending customers to an instance that could store none of their messages.

A real `engagebot run` on a SQLite file made read-only (chmod 444, the process without root's right to write any
file), and on a PostgreSQL database switched to read-only as after a failover to a replica: /healthz answers 503
with the reason, and 200 again once writes are accepted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_ADMIN_URL
from tests.reliability.harness import EngagebotProcess, eventually, processes, write_config

READ_ONLY = {"status": "error", "database": "read-only",
             "reason": "the database is read-only: messages cannot be stored"}  # fmt: skip


class UnprivilegedProcess(EngagebotProcess):
    """Without the capabilities that let root write a file whatever its mode: a chmod 444 binds it as it binds
    any other user (running the venv as another user is not possible: its Python lives under /root)."""

    launcher = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--") if os.geteuid() == 0 else ()


def set_mode(database: Path, mode: int) -> None:
    """chmod the database file, and the -wal and -shm files beside it (made read-only too by a read-only run)."""
    for file in database.parent.glob(f"{database.name}*"):
        file.chmod(mode)


async def health(bot: EngagebotProcess) -> httpx.Response | None:
    """/healthz's answer, or None while the process is not answering yet."""
    if not bot.alive():
        raise AssertionError(f"engagebot exited: {bot.tail()}")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(f"{bot.url}/healthz")
    except httpx.TransportError:
        return None


async def answer_when_up(bot: EngagebotProcess) -> httpx.Response:
    return await eventually(lambda: health(bot), timeout=30, what=bot.tail)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root's rights")
async def test_healthz_is_503_while_the_sqlite_file_is_read_only(tmp_path: Path) -> None:
    database = tmp_path / "engagebot.db"
    bot = UnprivilegedProcess(write_config(tmp_path), f"sqlite+aiosqlite:///{database}", tmp_path / "bot.log")
    with processes(bot):
        await bot.wait_healthy()  # migrated, and a heartbeat written
        bot.stop()
        set_mode(database, 0o444)
        bot.start()
        refused = await answer_when_up(bot)
        assert (refused.status_code, refused.json()) == (503, READ_ONLY), bot.tail()
        bot.stop()
        set_mode(database, 0o644)
        bot.start()
        await bot.wait_healthy()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_healthz_is_503_while_postgresql_is_read_only(tmp_path: Path, database_url: str) -> None:
    name = make_url(database_url).database
    bot = EngagebotProcess(write_config(tmp_path), database_url, tmp_path / "bot.log")
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)

    async def read_only(on: bool) -> None:
        # As after a failover to a replica: new sessions are read-only, and the sessions of before are gone.
        setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
        await admin.execute(f'ALTER DATABASE "{name}" {setting}')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)

    async def answers(status: int, body: dict | None = None) -> bool:
        answer = await health(bot)
        return answer is not None and answer.status_code == status and (body is None or answer.json() == body)

    try:
        with processes(bot):
            await bot.wait_healthy()
            await read_only(True)
            # A session ended by the server may fail once more ("unavailable") before the pool replaces it.
            await eventually(lambda: answers(503, READ_ONLY), timeout=15, what=bot.tail)
            await read_only(False)
            await eventually(lambda: answers(200), timeout=15, what=bot.tail)
            assert bot.alive()
    finally:
        await asyncio.shield(admin.close())
