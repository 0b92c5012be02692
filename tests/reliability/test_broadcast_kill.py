"""Two engagebot processes send one campaign through one PostgreSQL; one is killed with SIGKILL mid-way.

Every customer still gets the message; the only duplicates allowed are the rows the killed process had
in flight (at most `outreach.concurrency` of them: sent, but not yet marked done when it died). Both
processes share one send rate, so the Bot API stand-in (enforcing Telegram's limits) never answers 429.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from bot.config import load_settings
from bot.customers.models import ChannelIdentity, Customer
from bot.outbox.models import DONE, OutboxItem
from bot.outreach.campaigns import planning
from bot.storage.database import Database
from tests.conftest import REPO, STARTER_FLOWS
from tests.support.botapi_standin import BotApiStandIn

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

CUSTOMERS = 400
CONCURRENCY = 4
RATE = 100  # the stand-in's overall limit per second; the processes may use broadcast_share of it
TOKEN = "123456:TEST-TOKEN"
FIRST_CHAT = 10_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path) -> Path:
    config = {
        "flows": {"dir": str(STARTER_FLOWS), "hot_reload": False},
        "outreach": {
            "tick_seconds": 0.2, "lease_seconds": 3, "concurrency": CONCURRENCY, "batch_size": 50,
            "quiet_hours": None, "frequency_cap": None,
        },
        "telegram": {"max_per_second": RATE, "max_per_chat_per_second": 1},
        "campaigns": {"news": {"kind": "news", "message": "News for {{ customer.first_name }}"}},
    }  # fmt: skip
    path = folder / "config.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


async def seed(db: Database, now: datetime) -> None:
    await db.upgrade()
    async with db.transaction() as session:
        await session.execute(
            insert(Customer),
            [
                {"display_name": f"Customer {n}", "attributes": {}, "tags": [], "created_at": now, "tier": "standard",
                 "subscribed": True, "unreachable": False}
                for n in range(CUSTOMERS)
            ],
        )  # fmt: skip
        ids = list((await session.execute(select(Customer.id).order_by(Customer.id))).scalars())
        await session.execute(
            insert(ChannelIdentity),
            [{"customer_id": cid, "channel": "telegram", "address": str(FIRST_CHAT + n), "created_at": now}
             for n, cid in enumerate(ids)],
        )  # fmt: skip


def start_instance(config: Path, database_url: str, api: BotApiStandIn, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGAGEBOT_", "TELEGRAM_", "SLACK_"))}
    env.update(
        PYTHONPATH=str(REPO), DATABASE_URL=database_url, ENGAGEBOT_CONFIG=str(config),
        ENGAGEBOT_PORT=str(free_port()), TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api.base_url,
        TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_SECRET="test-secret",
    )  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "run"], cwd=config.parent, env=env,
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


async def test_a_broadcast_survives_kill_9_of_one_of_two_instances(database_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config, env={"DATABASE_URL": database_url})
    db = Database(database_url)
    now = datetime.now(UTC)
    await seed(db, now)
    result = await planning.plan(db, settings, "news", "test", due_at=now, now=now)
    assert result.planned == CUSTOMERS

    async with BotApiStandIn() as api:
        api.enforce_limits(global_per_second=RATE, per_chat_per_second=1)
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        first = start_instance(config, database_url, api, logs[0])
        second = start_instance(config, database_url, api, logs[1])
        try:

            def delivered() -> int:
                return len(api.calls("sendMessage"))

            # Kill the first instance once the broadcast is well under way.
            await api.wait_for(lambda: delivered() >= CUSTOMERS // 3, timeout=60)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            at_kill = delivered()
            await api.wait_for(
                lambda: len({r["chat_id"] for r in api.calls("sendMessage") if r["ok"]}) >= CUSTOMERS, timeout=90
            )
            await asyncio.sleep(4)  # past the lease: anything the dead process held is re-sent by now
        finally:
            for process in (first, second):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=15)
        output = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)

        per_chat = Counter(str(r["chat_id"]) for r in api.calls("sendMessage") if r["ok"])
        assert set(per_chat) == {str(FIRST_CHAT + n) for n in range(CUSTOMERS)}, output  # nothing lost
        doubled = sum(count - 1 for count in per_chat.values())
        print(f"sent {at_kill} before the kill, {doubled} doubled, {api.too_many_requests} answered 429")
        assert doubled <= CONCURRENCY, (per_chat.most_common(5), output)  # only what was in flight at the kill
        assert api.too_many_requests == 0, output  # both together kept to the shared rate
    async with db.sessions() as session:
        statuses = dict(
            (await session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all()
        )
    assert statuses == {DONE: CUSTOMERS}, statuses
    await db.dispose()
