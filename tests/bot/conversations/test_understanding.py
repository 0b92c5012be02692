"""What free text does in a real conversation (the starter flows, SQLite and PostgreSQL): intents however they are
worded, what interrupts an open question and what is its answer, small talk, asking when two intents are close,
and the record of what matched nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.conversations import unmatched
from bot.conversations.models import ConversationRun
from bot.core import Core
from bot.tickets.models import Ticket
from tests.conftest import Chat, FixedClock, make_settings

SORRY = "I'm sorry something has gone wrong"
SMALL_TALK = "Happy to help!"


async def count(core: Core, model: type, *where: object) -> int:
    async with core.db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def runs_of(core: Core, flow_id: str) -> int:
    return await count(core, ConversationRun, ConversationRun.flow_id == flow_id)


async def at_onboarding_yes_no(chat: Chat) -> None:
    """A new customer at onboarding's "Can I check in with you...?" (a yes/no question)."""
    await chat.say("hi")
    await chat.press("For my work")
    assert "check in" in chat.last[-1].text


@pytest.mark.parametrize(
    "complaint", ["my order never arrived", "i want to complian, my parcel never arived", "I was overcharged"]
)
async def test_a_complaint_typed_during_onboardings_questions_opens_the_complaint_flow(
    chat: Chat, core: Core, complaint: str
) -> None:
    await chat.say("hello")
    assert "For my work" in chat.buttons()  # onboarding asks what they use us for
    reply = await chat.say(complaint)
    assert SORRY in reply and "What happened?" in reply
    assert await runs_of(core, "complaint") == 1


async def test_no_to_a_yes_no_question_is_an_answer_not_small_talk(chat: Chat, core: Core) -> None:
    await at_onboarding_yes_no(chat)
    reply = await chat.say("no")
    assert SORRY not in reply and SMALL_TALK not in reply
    assert "Can I check in" not in reply  # the question moved on: not asked again
    assert reply.startswith("No problem, I won't check in.")  # taken as No


async def test_a_longer_answer_that_fits_the_question_is_taken_as_the_answer(chat: Chat, core: Core) -> None:
    await at_onboarding_yes_no(chat)
    reply = await chat.say("no thanks, I don't need any check ins")
    assert "Can I check in" not in reply and SORRY not in reply
    assert reply.startswith("No problem, I won't check in.")  # taken as No
    assert await runs_of(core, "complaint") == 0


async def test_asking_for_a_person_mid_question_hands_off_to_a_person(chat: Chat, core: Core) -> None:
    await at_onboarding_yes_no(chat)
    reply = await chat.say("can I speak to a real person")
    assert "C-1001" in reply and "A person will reply" in reply
    async with core.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
    assert ticket.kind == "handoff"


async def test_stop_said_in_a_sentence_mid_question_asks_to_stop_messages_not_to_cancel(chat: Chat, core: Core) -> None:
    await at_onboarding_yes_no(chat)
    reply = await chat.say("please stop sending me messages")
    assert "stop receiving messages" in reply
    assert await runs_of(core, "cancellation") == 0


@pytest.mark.parametrize(
    ("text", "flow", "says"),
    [
        ("unsubscribe me", "opt_out", "stop receiving messages"),
        ("i want to cancel my subscription", "cancellation", "why you're thinking of leaving"),
        ("the blender arrived damaged", "complaint", SORRY),
        ("nobody replied to my email for a week", "complaint", SORRY),
    ],
)
async def test_free_text_with_nothing_going_on_starts_the_flow_it_means(
    chat: Chat, core: Core, text: str, flow: str, says: str
) -> None:
    await chat.say("hi")
    await chat.say("cancel")  # leave onboarding
    assert says in await chat.say(text)
    assert await runs_of(core, flow) == 1


@pytest.mark.parametrize("text", ["hi", "thanks", "ok", "👍", "thank you so much!"])
async def test_small_talk_gets_a_friendly_word_and_the_menu_and_starts_no_flow(
    chat: Chat, core: Core, text: str
) -> None:
    await chat.say("hi")
    await chat.say("cancel")
    before = await count(core, ConversationRun)
    reply = await chat.say(text)
    assert reply.startswith(SMALL_TALK)
    assert "Report a problem" in chat.buttons()
    assert await count(core, ConversationRun) == before
    assert await unmatched.grouped(core.db, None) == []  # small talk is not "unmatched"


async def test_a_complaint_described_in_a_free_text_answer_is_the_answer(chat: Chat, core: Core) -> None:
    """ "Why that score?" asks for exactly that: describing what went wrong answers it, no complaint flow."""
    await chat.say("/nps")
    await chat.press("3")
    reply = await chat.say("the last order arrived late and the box was damaged")
    assert SORRY not in reply
    assert await runs_of(core, "complaint") == 0


async def test_with_a_ticket_open_words_about_the_problem_go_to_it_and_other_requests_start_their_flow(
    chat: Chat, core: Core
) -> None:
    await chat.say("hi")
    await chat.say("cancel")
    await chat.say("/complain")
    await chat.say("My parcel never arrived")
    await chat.press("Order & delivery")
    await chat.press("Skip")
    assert "Your reference is C-1001." in await chat.press("Quite a lot")
    for text in ["it still hasn't arrived", "any news about my parcel?"]:  # read as complaints, but follow-ups
        assert (await chat.say(text)).startswith("I've added this to your ticket C-1001.")
    assert await runs_of(core, "complaint") == 1
    assert (await chat.say("I want to cancel my subscription")).startswith("I can help with that.")
    assert await runs_of(core, "cancellation") == 1


async def test_text_that_matched_nothing_is_recorded_grouped_by_similarity(chat: Chat, core: Core) -> None:
    await chat.say("hi")
    await chat.say("cancel")
    for text in ["do you have parking", "Do you have parking?", "what is the weather on mars"]:
        assert (await chat.say(text)).startswith("Sorry, I didn't understand")
    groups = await unmatched.grouped(core.db, None)
    assert [(g.count, len(g.texts)) for g in groups] == [(2, 2), (1, 1)]
    assert "parking" in groups[0].texts[0].lower()


async def test_two_close_intents_are_asked_about_and_a_press_starts_the_chosen_flow(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    # Every second candidate counts as close, so the bot asks instead of guessing.
    settings = make_settings(tmp_path, database_url, flows_dir, intents={"ask_margin": 100})
    core = Core(settings, clock=clock)
    assert not await core.prepare()
    try:
        chat = Chat(core)
        await chat.say("hi")
        await chat.say("cancel")
        reply = await chat.say("stop my membership and the messages")
        assert reply.startswith("Just to be sure: do you want to cancel a subscription or stop messages?")
        assert chat.buttons() == ["Cancel a subscription", "Stop messages"]
        assert "stop receiving messages" in await chat.press("Stop messages")
        assert await runs_of(core, "opt_out") == 1
    finally:
        await core.close()


async def test_an_intent_added_by_a_hot_reload_is_understood_at_once(chat: Chat, core: Core, flows_dir: Path) -> None:
    await chat.say("hi")
    await chat.say("cancel")
    assert (await chat.say("do you have a loyalty programme")).startswith("Sorry, I didn't understand")
    (flows_dir / "loyalty.yaml").write_text(
        "version: 1\nflow: loyalty\ntitle: Loyalty programme\ntriggers:\n  - intent:\n      - is there a loyalty"
        " programme\n      - loyalty points\nsteps:\n  - end: Every order earns loyalty points.\n",
        encoding="utf-8",
    )
    assert core.registry.load() == []
    assert "earns loyalty points" in await chat.say("do you have a loyalty programme")
