"""What a message costs the database: on PostgreSQL a survey answer is two statements in its transaction
(bench/README.md), and a turn looks for no runs the sender's read brought already."""

from __future__ import annotations

from sqlalchemy import select

from bot.conversations.models import ConversationRun
from bot.core import Core
from bot.customers import records as customers
from bot.messages import ChannelRef, Inbound
from bot.surveys.models import SurveyResponse
from bot.transcript import Message
from tests.bot.conversations.statement_log import logged_statements


async def replies_to(core: Core, chat: str, text: str, n: int) -> list[str]:
    """The replies to a Telegram message, marked sent as the adapter would."""
    delivery = await core.engine.handle_for_delivery(Inbound("telegram", chat, text=text, message_id=str(n)))
    await core.deliveries.mark_sent(delivery.outbox_id)
    return [reply.text for reply in delivery.replies]


async def test_a_survey_answer_is_two_statements_on_postgresql_and_moves_the_run_on(core: Core) -> None:
    async def say(text: str, n: int) -> str:
        return "\n".join(await replies_to(core, "42", text, n))

    await say("hi", 1)
    await say("/nps", 2)
    async with logged_statements(core) as log:
        delivery = await core.engine.handle_for_delivery(Inbound("telegram", "42", text="9", message_id="3"))

    assert "what do you like most" in delivery.replies[-1].text.lower()
    if core.db.is_postgres:
        # The message stored with its sender's lock; the reply, its outbox row and the run's UPDATE together.
        assert len(log.work()) == 2, log.statements
    async with core.db.transaction() as session:
        run = (await session.execute(select(ConversationRun).where(ConversationRun.flow_id == "nps"))).scalar_one()
    assert run.answers.get("score") == 9 and run.awaiting_answer
    assert "thank" in (await say("Quick and kind", 4)).lower()  # the next answer finds the run where it was left


async def test_a_new_customers_first_command_never_looks_for_runs_they_cannot_have(core: Core) -> None:
    """A customer made by this message has only the runs its turn starts: the route and start stages looked for the
    run in the foreground and for open runs of the flow, two queries that could find nothing. On PostgreSQL the
    customer, their chat and the message are one statement, where they were three."""
    async with logged_statements(core) as log:
        delivery = await core.engine.handle_for_delivery(Inbound("telegram", "43", text="/nps", message_id="1"))

    assert "how likely" in delivery.replies[-1].text.lower()
    assert not [s for s in log.statements if "FROM conversation_runs" in s]  # the sender's read joins them, once
    if core.db.is_postgres:  # the customer, their chat and their message in one statement
        made = [s for s in log.statements if "INSERT INTO customers" in s or "INSERT INTO channel_identities" in s]
        assert len(made) == 1 and "INSERT INTO messages" in made[0], log.statements
    async with core.db.transaction() as session:
        customer = await customers.find_by_identity(session, ChannelRef("telegram", "43"))
        assert customer is not None
        run = (await session.execute(select(ConversationRun).where(ConversationRun.customer_id == customer.id))).one()[
            0
        ]
        said = await session.scalar(select(Message.text).where(Message.platform_message_id == "1"))
        owner = await session.scalar(select(Message.customer_id).where(Message.platform_message_id == "1"))
    assert (run.flow_id, run.status, run.step_index, run.awaiting_answer) == ("nps", "active", 0, True)
    assert run.customer_id == customer.id == owner and said == "/nps"
    await core.deliveries.mark_sent(delivery.outbox_id)
    assert "what do you like most" in (await replies_to(core, "43", "9", 2))[-1].lower()  # the run it went on with


async def test_a_known_customers_flow_starts_and_ends_without_looking_for_runs_again(core: Core) -> None:
    """The sender's read brings their open runs: a flow's start (any run of it left open?) and its end (a flow set
    aside to pick up again?) answer from them, where each was a query."""

    async def say(text: str, n: int) -> list[str]:
        return await replies_to(core, "44", text, n)

    await say("hi", 1)
    await say("/csat", 2)  # a question open, set aside by the next start and picked up again after it
    async with logged_statements(core) as log:
        started = await say("/nps", 3)
        asked = await say("9", 4)
        ended = await say("Quick and kind", 5)

    assert "how likely" in started[-1].lower() and "what do you like most" in asked[-1].lower()
    assert any("thank" in text.lower() for text in ended)
    assert "how satisfied" in ended[-1].lower()  # the CSAT question set aside, asked again
    assert not [s for s in log.statements if "FROM conversation_runs" in s]  # the sender's read joins them, once
    async with core.db.transaction() as session:
        runs = {r.flow_id: r.status for r in (await session.execute(select(ConversationRun))).scalars()}
    assert runs.get("nps") == "done" and runs.get("csat") == "active"


async def test_the_answer_that_ends_a_survey_is_recorded_with_its_reply(core: Core) -> None:
    """The survey's record goes with the statement that writes the reply on PostgreSQL, where it was one of its own;
    on both databases it is stored, once, with the run and the score and comment given."""

    async def say(text: str, n: int) -> str:
        return "\n".join(await replies_to(core, "45", text, n))

    await say("hi", 1)
    await say("/nps", 2)
    await say("9", 3)
    async with logged_statements(core) as log:
        ended = await say("Quick and kind", 4)

    assert "thank" in ended.lower()
    if core.db.is_postgres:
        recorded = [s for s in log.statements if "survey_responses" in s]
        assert len(recorded) == 1 and "INSERT INTO outbox" in recorded[0], log.statements
    async with core.db.transaction() as session:
        run = (await session.execute(select(ConversationRun).where(ConversationRun.flow_id == "nps"))).scalar_one()
        answers = (await session.execute(select(SurveyResponse))).scalars().all()
    assert [(a.survey, a.kind, a.score, a.comment, a.run_id) for a in answers] == [
        ("nps", "nps", 9, "Quick and kind", run.id)
    ]
    assert answers[0].customer_id == run.customer_id


async def test_a_new_customers_first_run_goes_with_the_replies(core: Core) -> None:
    """On PostgreSQL the statement that makes a customer draws the id of their first run, and the run's row is
    written with the replies: a new customer's first message is three statements (their read, their making, the
    replies), where the run's INSERT was a fourth. Everywhere the run is stored as the turn left it."""
    await replies_to(core, "40", "hi", 0)  # the flow's version stored already, as for every customer but the first
    async with logged_statements(core) as log:
        delivery = await core.engine.handle_for_delivery(Inbound("telegram", "46", text="hi", message_id="1"))

    assert "what will you mainly use us for" in delivery.replies[-1].text.lower()  # onboarding, started at once
    if core.db.is_postgres:
        started = [s for s in log.statements if "conversation_runs" in s]
        assert len(started) == 1 and "INSERT INTO outbox" in started[0], log.statements
        assert len(log.work()) == 3 and "nextval" in log.work()[1], log.statements
    async with core.db.transaction() as session:
        customer = await customers.find_by_identity(session, ChannelRef("telegram", "46"))
        assert customer is not None
        run = (await session.execute(select(ConversationRun).where(ConversationRun.customer_id == customer.id))).one()[
            0
        ]
    assert (run.flow_id, run.status, run.awaiting_answer) == ("onboarding", "active", True)
    assert run.started_at == run.updated_at and run.answers == {} and run.context["trigger"]["event"] == "first_contact"
    await core.deliveries.mark_sent(delivery.outbox_id)
    assert await replies_to(core, "46", "For my work", 2)  # the run it went on with
    async with core.db.transaction() as session:
        moved = (await session.execute(select(ConversationRun).where(ConversationRun.id == run.id))).scalar_one()
    assert moved.answers and moved.step_index > run.step_index
