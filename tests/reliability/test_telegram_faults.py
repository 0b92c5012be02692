"""Customers chat over Telegram while the Bot API fails under them: 5xx answers, sends that time out (Telegram
carried them out, the bot never heard back), and a storm of 429s on top of Telegram's own limits.

The app runs as in production (its scheduler ticking on the real clock) against the Bot API stand-in over real HTTP.
Customers keep typing whatever the bot manages to answer. Afterwards every message they sent is stored once and
answered, each customer sees exactly what the bot decided to say, in order, and the only messages seen twice are
the sends that timed out (the Bot API has no idempotency key: docs/telegram.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.storage.database import Database
from handlers.server import build_app
from tests.handlers.telegram.harness import running, tg_settings
from tests.reliability.harness import (
    SCRIPT,
    Customer,
    eventually,
    extra_copies,
    inbound_ids,
    outbox_statuses,
    survey_answers,
    transcript_out,
)
from tests.support.botapi_standin import BotApiStandIn

# PTB warns when it builds a RetryAfter from a 429 (its int form is deprecated); ours reads both forms.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CUSTOMERS = 6
FIRST_CHAT = 8000
TIMEOUTS = 3
SEND_TIMEOUT = 0.3  # seconds the bot waits for a Bot API answer (PTB's default is 5; shorter keeps the test fast)


def waves(api: BotApiStandIn) -> list[tuple[int, Callable[[], None]]]:
    """(after how many sendMessage calls, the fault that starts then): the faults spread over the conversations."""

    def server_errors() -> None:
        for n, status in enumerate((500, 502, 503, 500)):
            api.fail_next("sendMessage", status, chat_id=FIRST_CHAT + n)

    return [
        (0, server_errors),
        (8, lambda: api.delay_next("sendMessage", SEND_TIMEOUT * 3, count=TIMEOUTS)),
        (16, lambda: api.fail_next("sendMessage", 429, count=8, retry_after=1)),
    ]


async def inject(api: BotApiStandIn) -> None:
    for after, start in waves(api):
        await api.wait_for(lambda after=after: len(api.calls("sendMessage")) >= after, timeout=60)  # type: ignore[misc]
        start()


# SQLite only, to keep the fast suite near three minutes: PostgreSQL under traffic and faults is
# test_postgres_restart.py (and the outbox's row locks, test_broadcast_kill.py).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_customers_keep_chatting_through_5xx_timeouts_and_a_429_storm(
    tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    async with BotApiStandIn() as api:
        api.enforce_limits(global_per_second=30, per_chat_per_second=1, burst=2)
        settings = tg_settings(
            tmp_path, database_url, flows_dir, api,
            outreach={"tick_seconds": 0.2, "quiet_hours": None, "frequency_cap": None},
            telegram={"max_per_second": 30, "max_per_chat_per_second": 1, "chat_burst": 2,
                      "max_inline_retry_seconds": 2},
        )  # fmt: skip
        app = build_app(settings)
        app.state.telegram.application.bot.request.read_timeout = SEND_TIMEOUT
        customers = [Customer(api, FIRST_CHAT + n, name=f"Customer{n}") for n in range(CUSTOMERS)]
        faults = asyncio.create_task(inject(api))
        sent: list[int] = []
        async with running(app, api):
            for _ in SCRIPT:  # everyone types a line every 0.2 s, answered or not
                for customer in customers:
                    sent += customer.say_next()
                await asyncio.sleep(0.2)
            await eventually(
                lambda: all(c.finished() for c in customers), timeout=60,
                what=lambda: "\n".join(f"{c.chat_id}: {[m[:25] for m in c.messages()]}" for c in customers),
            )  # fmt: skip
            await faults
            db: Database = app.state.core.db
            stored = await inbound_ids(db)
            doubled = 0
            for customer in customers:
                doubled += extra_copies(customer.messages(), await transcript_out(db, str(customer.chat_id)))
            answers = await survey_answers(db)
            statuses = await outbox_statuses(db)

    assert stored == {f"u{update_id}": 1 for update_id in sent}  # every message stored once
    assert answers == [(9, "Great service")] * CUSTOMERS  # and carried through to the end of the survey
    assert doubled <= TIMEOUTS  # only sends that timed out after Telegram took them
    assert set(statuses) == {"done"}, statuses  # nothing left behind, nothing given up
    refused = [r["status"] for r in api.calls("sendMessage") if not r["ok"]]
    assert {500, 502, 503, 429} <= set(refused)  # every kind of fault really happened
    print(f"{len(api.calls('sendMessage'))} sends, {len(refused)} refused, {doubled} doubled")
