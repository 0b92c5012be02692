"""A batch of customers' messages on PostgreSQL: its senders read and its replies written in one statement each
(senders.py, reply_batch.py), and every message answered as if it had been alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from bot.conversations.models import ConversationRun
from bot.core import Core
from bot.messages import Inbound
from bot.outbox.delivery import Delivery
from bot.outbox.models import LEASED, OutboxItem
from bot.surveys.models import SurveyResponse
from tests.bot.conversations.statement_log import logged_statements
from tests.bot.conversations.test_receive import one_customer_on_two_chats

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


async def say(core: Core, chat: str, words: str, message_id: str) -> str:
    delivery = await core.engine.handle_for_delivery(Inbound("telegram", chat, text=words, message_id=message_id))
    await core.deliveries.mark_sent(delivery.outbox_id)
    return delivery.replies[-1].text


async def all_at_once(core: Core, chats: list[str], text: str, tag: str) -> list[Delivery]:
    """Each chat's message (`text`, "{chat}" in it filled in) handed to the engine at the same moment, so that they
    are batched."""
    inbounds = [Inbound("telegram", chat, text=text.format(chat=chat), message_id=f"{chat}-{tag}") for chat in chats]
    return list(await asyncio.gather(*(core.engine.handle_for_delivery(inbound) for inbound in inbounds)))


async def step_log_count(core: Core) -> int:
    async with core.db.transaction() as session:
        return int((await session.execute(text("SELECT count(*) FROM flow_step_log"))).scalar_one())


async def test_a_batch_of_answers_is_two_statements_and_each_answer_moves_its_own_run_on(core: Core) -> None:
    chats = [str(7000 + n) for n in range(12)]
    for chat in chats:
        await say(core, chat, "hi", f"{chat}-hi")
        await say(core, chat, "/nps", f"{chat}-nps")
    logged_before = await step_log_count(core)
    async with logged_statements(core) as log:
        deliveries = await all_at_once(core, chats, "9", "9")

    # Each customer got the next question, in an outbox row of their own leased to the caller, held behind nothing.
    assert all("what do you like most" in d.replies[-1].text.lower() for d in deliveries)
    assert not any(d.held or d.duplicate for d in deliveries)
    async with core.db.transaction() as session:
        rows = {
            row.id: row
            for row in (
                await session.scalars(select(OutboxItem).where(OutboxItem.id.in_([d.outbox_id for d in deliveries])))
            )
        }
        runs = (await session.scalars(select(ConversationRun).where(ConversationRun.flow_id == "nps"))).all()
    assert [rows[d.outbox_id].payload["address"] for d in deliveries] == chats
    assert [rows[d.outbox_id].payload["replies"][-1]["text"] for d in deliveries] == [
        d.replies[-1].text for d in deliveries
    ]
    assert {row.status for row in rows.values()} == {LEASED}
    assert len(runs) == 12 and all(run.answers.get("score") == 9 and run.awaiting_answer for run in runs)
    # Each run's step log: the score answered, then the branch on it and the next question entered.
    assert await step_log_count(core) == logged_before + 3 * 12
    # Two statements a transaction, whatever its size: the senders with the messages, then all the replies.
    # (Not counted: asyncpg's look-up of a type it first meets on a connection, once a connection.)
    work = [s for s in log.work() if not _introspection(s)]
    assert log.commits < len(chats) and len(work) == 2 * log.commits, log.statements


async def test_one_customer_writing_from_two_chats_in_one_batch_has_the_second_message_read_after_the_first(
    core: Core,
) -> None:
    await one_customer_on_two_chats(core, "pair-web", "pair-tg")
    assert "0" in await say(core, "pair-tg", "/nps", "pair-nps")
    for chat in ("o1", "o2"):
        await core.engine.handle(Inbound("web", chat, text="hi", message_id=f"{chat}-hi"))

    # The score on Telegram, and at once the reason on the web chat: one batch with the two others.
    score, reason, *_ = await asyncio.gather(
        core.engine.handle_for_delivery(Inbound("telegram", "pair-tg", text="9", message_id="pair-9")),
        core.engine.handle(Inbound("web", "pair-web", text="Quick and kind", message_id="pair-why")),
        core.engine.handle(Inbound("web", "o1", text="menu", message_id="o1-menu")),
        core.engine.handle(Inbound("web", "o2", text="menu", message_id="o2-menu")),
    )

    assert "what do you like most" in score.replies[-1].text.lower()
    # The answer to the question the score led to, not a second score.
    assert any("thank" in reply.text.lower() for reply in reason)
    async with core.db.transaction() as session:
        run = (await session.scalars(select(ConversationRun).where(ConversationRun.flow_id == "nps"))).one()
    assert run.answers.get("score") == 9 and "Quick and kind" in run.answers.values()


def _introspection(statement: str) -> bool:
    return "typeinfo_tree" in statement or "'jit'" in statement


async def test_new_customers_in_a_batch_are_made_without_being_looked_for_again(core: Core) -> None:
    """The batch's statement found nobody behind their chats: each is made, welcomed and answered, and the chat is
    not read a second time to find that out again."""
    chats = [str(8000 + n) for n in range(12)]
    async with logged_statements(core) as log:
        deliveries = await all_at_once(core, chats, "/nps", "nps")

    assert all("how likely" in d.replies[-1].text.lower() for d in deliveries)
    assert all("welcome" in d.replies[0].text.lower() for d in deliveries)
    senders_read = [s for s in log.statements if "FOR UPDATE OF customers" in s]
    assert log.commits < len(chats) and len(senders_read) == log.commits, log.statements
    async with core.db.transaction() as session:
        made = await session.scalar(text("SELECT count(*) FROM channel_identities WHERE address LIKE '80%'"))
    assert made == len(chats)


async def test_a_batch_of_answers_that_end_a_survey_records_each_with_the_replies(core: Core) -> None:
    """Each customer's survey record goes with the batch's replies, and every customer's answer is stored once, with
    their own run, score and comment."""
    chats = [str(9000 + n) for n in range(12)]
    for n, chat in enumerate(chats):
        await say(core, chat, "hi", f"{chat}-hi")
        await say(core, chat, "/nps", f"{chat}-nps")
        await say(core, chat, str(9 + n % 2), f"{chat}-score")
    async with logged_statements(core) as log:
        deliveries = await all_at_once(core, chats, "Because {chat}", "c")

    assert all(any("thank" in r.text.lower() for r in d.replies) for d in deliveries)
    # The set-aside welcome resumed at the survey's end is the ORM's to flush; the records go with the replies.
    recorded = [s for s in log.statements if "survey_responses" in s]
    assert log.commits < len(chats) and len(recorded) == log.commits, log.statements
    assert all("INSERT INTO outbox" in s for s in recorded)
    async with core.db.transaction() as session:
        runs = {
            run.id: run
            for run in await session.scalars(select(ConversationRun).where(ConversationRun.flow_id == "nps"))
        }
        answers = (await session.scalars(select(SurveyResponse))).all()
    by_comment = {a.comment: a for a in answers}
    assert len(answers) == len(chats) and set(by_comment) == {f"Because {chat}" for chat in chats}
    for n, chat in enumerate(chats):
        answer = by_comment[f"Because {chat}"]
        assert answer.score == 9 + n % 2 and runs[answer.run_id].answers.get("score") == 9 + n % 2
        assert answer.customer_id == runs[answer.run_id].customer_id


async def test_new_customers_first_runs_in_a_batch_go_with_the_replies(core: Core) -> None:
    """Each new customer's first run has the id drawn when they were made, and its row is written with the batch's
    replies; each run is its own customer's, as their turn left it, and takes their next answer."""
    await say(core, "8990", "hi", "8990-hi")  # the flow's version stored already, as for every customer but the first
    chats = [str(8100 + n) for n in range(12)]
    async with logged_statements(core) as log:
        deliveries = await all_at_once(core, chats, "hi", "hi")

    assert all("what will you mainly use us for" in d.replies[-1].text.lower() for d in deliveries)
    started = [s for s in log.statements if "conversation_runs" in s]
    assert log.commits < len(chats) and len(started) == log.commits, log.statements
    assert all("INSERT INTO outbox" in s for s in started)
    for delivery in deliveries:
        await core.deliveries.mark_sent(delivery.outbox_id)
    async with core.db.transaction() as session:
        owners = dict(
            (
                await session.execute(
                    text("SELECT address, customer_id FROM channel_identities WHERE address LIKE '81%'")
                )
            ).all()
        )
        runs = {run.customer_id: run for run in await session.scalars(select(ConversationRun))}
    assert set(owners) == set(chats)
    assert all(runs[owners[chat]].flow_id == "onboarding" and runs[owners[chat]].awaiting_answer for chat in chats)
    answered = await all_at_once(core, chats, "For my work", "w")
    assert all(d.replies for d in answered)
    async with core.db.transaction() as session:
        moved = {run.customer_id: run for run in await session.scalars(select(ConversationRun))}
    assert all(moved[owners[chat]].answers for chat in chats)
