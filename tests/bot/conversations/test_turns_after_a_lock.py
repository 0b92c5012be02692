"""A message whose customer is locked by other work (another instance's turn, a check-in resumed, a second chat of
theirs) waits for it, then reads the customer's runs as that work left them: PostgreSQL's row lock alone would let
the statement that waited return the runs as they were when it started (its snapshot), and the turn would answer a
question already closed, and write over what the other work did."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.conversations.models import ConversationRun
from bot.core import Core
from bot.messages import Inbound, Reply

WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)
# What other work does to the customer's open NPS survey while it holds them: it closes it.
CLOSE_THE_SURVEY = text(
    "UPDATE conversation_runs SET status = 'done', awaiting_answer = false, ended_at = now() "
    "WHERE flow_id = 'nps' AND status = 'active' AND customer_id = "
    "(SELECT customer_id FROM channel_identities WHERE address = :address)"
)
LOCK_THE_CUSTOMER = text(
    "SELECT customers.id FROM customers JOIN channel_identities ON channel_identities.customer_id = customers.id "
    "WHERE channel_identities.address = :address FOR UPDATE OF customers"
)


async def nps_answers(core: Core) -> list[Any]:
    async with core.db.transaction() as session:
        runs = (await session.execute(select(ConversationRun).where(ConversationRun.flow_id == "nps"))).scalars()
        return [(run.status, (run.answers or {}).get("score")) for run in runs]


async def while_locked(core: Core, address: str, message: Awaitable[Any]) -> Any:
    """`message` handled while another session holds the customer of `address` and closes their survey: it waits
    for the lock (polled from a third session: another session's state has nothing to await), then the other
    commits."""
    async with core.db.engine.connect() as other:
        await other.execute(LOCK_THE_CUSTOMER, {"address": address})
        await other.execute(CLOSE_THE_SURVEY, {"address": address})
        handled = asyncio.ensure_future(message)
        async with core.db.engine.connect() as watcher:
            for _ in range(1000):
                if (await watcher.execute(WAITING_FOR_A_LOCK)).scalar_one():
                    break
                await watcher.rollback()  # pg_stat_activity is read once per transaction: a new one sees anew
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the message never waited for the customer")
        await other.commit()
        return await handled


def asks_what_they_like(replies: list[Reply]) -> bool:
    return any("what do you like most" in reply.text.lower() for reply in replies)


# Row locks and snapshots: PostgreSQL only (SQLite has one writer, and its transaction starts with the lock).
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_message_that_waited_for_its_customer_sees_what_the_other_work_did(core: Core) -> None:
    await core.engine.handle(Inbound("web", "42", text="/nps", message_id="1"))

    replies = await while_locked(core, "42", core.engine.handle(Inbound("web", "42", text="9", message_id="2")))

    assert not asks_what_they_like(replies)  # the survey was closed: no follow-up question to a score it never took
    assert await nps_answers(core) == [("done", None)]


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_batch_that_waited_for_one_of_its_customers_sees_what_the_other_work_did(core: Core) -> None:
    """The same through a batch: two customers' messages at once share one statement (senders.py)."""
    for address in ("42", "43"):
        await core.engine.handle(Inbound("web", address, text="/nps", message_id=f"{address}-1"))
    both = asyncio.gather(
        core.engine.handle(Inbound("web", "42", text="9", message_id="42-2")),
        core.engine.handle(Inbound("web", "43", text="10", message_id="43-2")),
    )

    first, second = await while_locked(core, "42", both)

    assert not asks_what_they_like(first)
    assert asks_what_they_like(second)  # the other customer's survey was not touched
    assert sorted(await nps_answers(core), key=str) == sorted([("done", None), ("active", 10)], key=str)
