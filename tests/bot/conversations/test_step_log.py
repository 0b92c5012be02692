"""The step log (bot/conversations/steplog.py), what the `flows` report counts: a turn's entries are written when
its transaction commits, and only then. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from bot.conversations.models import ConversationRun
from bot.conversations.steplog import ANSWERED, ENTERED, StepEntry, log_step
from bot.conversations.turn import Turn
from bot.core import Core
from bot.customers.models import Customer
from bot.messages import Inbound
from tests.conftest import Chat, FixedClock


async def logged(core: Core) -> list[tuple[int, str]]:
    async with core.db.sessions() as session:
        query = select(StepEntry.step_index, StepEntry.event).order_by(StepEntry.id)
        return [(index, event) for index, event in (await session.execute(query)).all()]


async def test_an_answer_logs_the_question_answered_then_the_next_one_entered(core: Core) -> None:
    chat = Chat(core)
    await chat.say("/nps")
    assert await logged(core) == [(0, ENTERED)]
    await chat.say("9")
    assert (await logged(core))[:3] == [(0, ENTERED), (0, ANSWERED), (1, ENTERED)]


async def test_a_turn_rolled_back_logs_nothing_even_when_its_session_commits_later(
    core: Core, clock: FixedClock
) -> None:
    await Chat(core).say("/nps")
    before = await logged(core)
    lf = core.registry.current("nps")
    assert lf is not None
    async with core.db.sessions() as session:
        run = (await session.execute(select(ConversationRun))).scalars().one()
        customer = await session.get(Customer, run.customer_id)
        assert customer is not None
        log_step(Turn(session, customer, clock.now(), "web"), run, lf, ANSWERED)
        await session.rollback()
        await session.commit()
    assert await logged(core) == before


async def test_a_push_channels_answer_logs_its_steps_too(core: Core) -> None:
    """For a push channel (Telegram) the entries go with the reply's rows (PostgreSQL: in the same statement)."""
    await core.engine.handle_for_delivery(Inbound("test", "chat-1", text="/nps", message_id="m1"))
    await core.engine.handle_for_delivery(Inbound("test", "chat-1", text="9", message_id="m2"))
    assert (await logged(core))[:3] == [(0, ENTERED), (0, ANSWERED), (1, ENTERED)]
