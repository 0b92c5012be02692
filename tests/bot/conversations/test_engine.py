"""The conversation engine, end to end through the starter flows, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.conversations.models import ConversationRun
from bot.core import Core
from bot.customers.models import Customer
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Ticket
from bot.transcript import Message
from tests.conftest import Chat


async def count(core: Core, model: type, *where: object) -> int:
    async with core.db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_first_contact_creates_the_customer_and_starts_onboarding(chat: Chat, core: Core) -> None:
    reply = await chat.say("hello")
    assert "welcome" in reply.lower()
    assert "For my work" in chat.buttons()
    assert await count(core, Customer) == 1


async def test_nps_survey_by_buttons_records_the_score_and_reason(chat: Chat, core: Core) -> None:
    await chat.say("hi")
    await chat.say("/nps")
    await chat.press("9")
    reply = await chat.say("Fast delivery and friendly people")
    assert "thank" in reply.lower()
    async with core.db.transaction() as session:
        row = (await session.execute(select(SurveyResponse))).scalar_one()
    assert (row.kind, row.score) == ("nps", 9)
    assert row.comment == "Fast delivery and friendly people"


async def test_invalid_answer_is_reasked_then_a_person_is_offered(chat: Chat) -> None:
    await chat.say("/nps")
    first = await chat.say("eleven")
    assert "0" in first and "10" in first
    await chat.say("banana")
    third = await chat.say("purple")
    assert "talk to a person" in [b.lower() for b in chat.buttons()]
    assert "trouble" in third.lower()


async def test_complaint_mid_survey_opens_a_ticket_and_the_survey_resumes(chat: Chat, core: Core) -> None:
    await chat.say("/nps")
    reply = await chat.say("I want to complain, my order is late")
    assert "sorry" in reply.lower()
    await chat.say("The parcel never arrived")
    await chat.press("Order & delivery")
    await chat.press("Skip")
    final = await chat.press("Quite a lot")
    assert "C-1001" in final
    assert "back to where we were" in final.lower()
    assert [str(n) for n in range(11)] == chat.buttons()
    assert await count(core, Ticket) == 1


async def test_global_words_work_fuzzily(chat: Chat, core: Core) -> None:
    await chat.say("hi")
    reply = await chat.say("stpo")
    assert "stop receiving" in reply.lower()
    await chat.press("Yes")
    async with core.db.transaction() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    assert customer.subscribed is False
    assert "welcome back" in (await chat.say("subscibe")).lower()


async def test_template_syntax_from_a_customer_stays_literal(chat: Chat, core: Core) -> None:
    chat.name = "{{ 7*7 }}"
    await chat.say("/complain")
    await chat.say("{{ 7*7 }} and {% for x in range(9) %}x{% endfor %}")
    async with core.db.transaction() as session:
        run = (
            await session.execute(select(ConversationRun).where(ConversationRun.flow_id == "complaint"))
        ).scalar_one()
    assert "{{ 7*7 }}" in str(run.answers)
    assert "49" not in " ".join(r.text for r in chat.last)


async def test_duplicate_delivery_is_ignored(chat: Chat, core: Core) -> None:
    first = await chat.send("hi", message_id="m-1")
    again = await chat.send("hi", message_id="m-1")
    assert first and again == []
    assert await count(core, Message, Message.direction == "in") == 1


async def test_duplicate_delivery_from_a_known_chat_is_ignored_and_stored_once(chat: Chat, core: Core) -> None:
    """A known chat's message is stored with the read of its sender (PostgreSQL): its copy still changes nothing."""
    await chat.send("/nps", message_id="m-1")
    first = await chat.send("9", message_id="m-2")
    said = await count(core, Message, Message.direction == "out")
    again = await chat.send("9", message_id="m-2")
    assert first and again == []
    assert await count(core, Message, Message.platform_message_id == "m-2") == 1
    assert await count(core, Message, Message.direction == "out") == said  # answered once


async def test_conversation_survives_a_restart_in_the_middle_of_a_flow(chat: Chat, core: Core, settings, clock) -> None:
    await chat.say("/nps")
    await core.close()
    restarted = Core(settings, clock=clock)
    await restarted.prepare()
    try:
        again = Chat(restarted)
        reply = await again.say("10")
        assert "thank" in reply.lower()
    finally:
        await restarted.close()
