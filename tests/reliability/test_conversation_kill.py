"""`engagebot run` (Telegram long polling) is killed with SIGKILL while customers are mid-conversation and the bot is
behind on their messages; customers keep writing while it is down; it is started again.

After the restart every update the customers sent is handled exactly once (none lost, none answered twice), every
conversation goes on from where it was (onboarding done, the NPS survey answered with the right score and reason),
and the only messages the customers see twice are those the killed process had handed to Telegram without marking
them sent: one reply batch at most per customer, since each customer's updates are handled one at a time (different
customers' at once, up to telegram.concurrent_updates).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage.database import Database
from tests.reliability.harness import (
    SCRIPT,
    Customer,
    EngagebotProcess,
    eventually,
    extra_copies,
    inbound_ids,
    interleaved,
    outbox_statuses,
    processes,
    survey_answers,
    telegram_env,
    transcript_out,
    write_config,
)
from tests.support.botapi_standin import BotApiStandIn

CUSTOMERS = 5


def progress(customers: list[Customer], bot: EngagebotProcess) -> str:
    lines = [f"{c.chat_id}: {[m[:30] for m in c.messages()]}" for c in customers]
    return "\n".join([*lines, bot.tail()])


REPLY_BATCH = 2  # the most replies one update gets in this script ("hi": the welcome and the first question)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_kill_9_mid_conversation_loses_no_update_and_conversations_go_on(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(tmp_path, outreach={"lease_seconds": 3})
    async with BotApiStandIn() as api:
        # Telegram answers slowly, so the bot falls behind and has fetched updates it has not handled yet.
        api.delay_next("sendMessage", 0.15, count=10_000)
        bot = EngagebotProcess(config, database_url, tmp_path / "bot.log", telegram_env(api))
        customers = [Customer(api, 7000 + n, name=f"Customer{n}") for n in range(CUSTOMERS)]
        with processes(bot):
            await api.wait_for(lambda: api.calls("getUpdates"), timeout=30)
            sent = interleaved(customers, rounds=4)
            await api.wait_for(lambda: len(api.calls("sendMessage")) >= 6, timeout=30)
            bot.kill()
            handled_before_kill = len(api.calls("sendMessage"))

            sent += interleaved(customers, rounds=1)  # written while the bot is down
            bot.start()
            sent += interleaved(customers, rounds=len(SCRIPT) - 5)
            # One reply batch was in flight at the kill: it is sent again when its lease (60 s) runs out, and that
            # customer's later replies wait behind it, so this can take a minute.
            done = lambda: all(c.finished() for c in customers)  # noqa: E731
            await eventually(done, timeout=90, what=lambda: progress(customers, bot))
        log = bot.tail()

    db = Database(database_url)
    try:
        stored = await inbound_ids(db)
        assert stored == {f"u{update_id}": 1 for update_id in sent}, log  # every update once, none lost
        doubled = 0
        for customer in customers:
            doubled += extra_copies(customer.messages(), await transcript_out(db, str(customer.chat_id)))
        assert doubled <= REPLY_BATCH * CUSTOMERS, log  # a batch in flight per customer at most
        assert await survey_answers(db) == [(9, "Great service")] * CUSTOMERS
        assert set(await outbox_statuses(db)) == {"done"}
    finally:
        await db.dispose()
    print(f"{handled_before_kill} sends before the kill, {doubled} messages doubled")
