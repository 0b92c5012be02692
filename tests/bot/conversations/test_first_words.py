"""The first words count: a new customer's first message that asks for something gets it at once, behind one sentence
of welcome, and onboarding comes later, when they are not busy. Through the starter flows, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from bot.config import Settings
from bot.conversations.kinds import ConversationKind
from bot.conversations.models import DONE, ConversationRun
from bot.core import Core
from bot.outbox.models import OutboxItem
from bot.tickets.models import Ticket, TicketStatus
from bot.transcript import Message
from tests.bot.conversations.test_engine_steps import RecordingChannel, latest_run, rows
from tests.conftest import Chat, FixedClock, make_settings

WELCOME = "Hi Ana, welcome to our service."
USE_CASE = "So we can help you better, what will you mainly use us for?"
LATER_INTRO = "Hi Ana, I hope we sorted out what you came to us for."
SET_ASIDE = "Let's leave my question for now."


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    # No quiet hours or caps: when onboarding comes back depends on the customer only.
    return make_settings(tmp_path, database_url, flows_dir, outreach={"quiet_hours": None, "frequency_cap": None})


@pytest.fixture
def channel(core: Core) -> RecordingChannel:
    recording = RecordingChannel()
    core.add_channel(recording)
    return recording


async def onboarding_starts(core: Core) -> list[OutboxItem]:
    return await rows(core, OutboxItem, OutboxItem.kind == ConversationKind.START_FLOW)


async def later(core: Core, clock: FixedClock, **delta: float) -> None:
    clock.advance(**delta)
    await core.dispatcher.drain()


FIRST_WORDS = [
    # (first message, what the bot says right after the welcome)
    ("I want to complain, my order hasn't arrived", "I'm sorry something has gone wrong"),
    ("talk to a person", "I've passed this to our team (ticket C-1001)"),
    ("I want to cancel my subscription", "I can help with that. Cancellations are handled by a person"),
    ("stop", "Do you want to stop receiving messages from us?"),
    ("/complain", "I'm sorry something has gone wrong"),
    ("menu", "How can I help? Choose an option below"),
]


@pytest.mark.parametrize(("first", "then"), FIRST_WORDS)
async def test_first_words_that_ask_for_something_get_it_at_once_behind_one_sentence_of_welcome(
    chat: Chat, core: Core, first: str, then: str
) -> None:
    replies = await chat.send(first)
    welcome, _, answer = replies[0].text.partition("\n\n")  # one message: the welcome opens the answer
    assert welcome == WELCOME
    assert answer.startswith(then)
    assert all(USE_CASE not in r.text and "thank you for joining us" not in r.text for r in replies)
    (start,) = await onboarding_starts(core)  # onboarding is put off, not dropped
    assert start.payload["flow_id"] == "onboarding"
    assert start.payload["data"]["first_words"] in ("complaint", "human", "cancellation", "stop", "menu")


@pytest.mark.parametrize("first", ["hello", "hi there", "what is this?", "/start"])
async def test_a_greeting_or_anything_unrecognised_starts_onboarding_as_before(
    chat: Chat, core: Core, first: str
) -> None:
    said = await chat.say(first)
    assert said.startswith("Hi Ana, welcome to our service, and thank you for joining us!")
    assert USE_CASE in said and "For my work" in chat.buttons()
    assert await onboarding_starts(core) == []


@pytest.mark.parametrize(
    "first",
    ["i ordered 3 shirts and only got 2", "i have been on hold for an hour", "this is outrageous", "it broke again"],
)
async def test_first_words_that_complain_in_words_no_example_has_start_the_complaint(
    chat: Chat, core: Core, first: str
) -> None:
    replies = await chat.send(first)
    assert replies[0].text.startswith(f"{WELCOME}\n\nI'm sorry something has gone wrong")


@pytest.mark.parametrize("first", ["what time do you close", "I can't stop smiling"])
async def test_first_words_that_ask_what_no_flow_answers_or_are_happy_start_no_flow(
    chat: Chat, core: Core, first: str
) -> None:
    said = await chat.say(first)
    assert said.startswith("Hi Ana, welcome to our service, and thank you for joining us!")  # onboarding, as before
    assert "Do you want to stop receiving messages" not in said and "Cancellations" not in said
    assert [run.flow_id for run in await rows(core, ConversationRun)] == ["onboarding"]


async def test_a_first_message_complaint_ends_in_a_ticket_with_no_onboarding_in_the_way(chat: Chat, core: Core) -> None:
    await chat.say("I want to complain, my order hasn't arrived")
    await chat.say("The parcel was due on Monday and never came")
    await chat.press("Order & delivery")
    await chat.press("Skip")
    final = await chat.press("Quite a lot")
    assert "Your reference is C-1001." in final
    assert USE_CASE not in final
    (ticket,) = await rows(core, Ticket)
    assert (ticket.kind, ticket.category) == ("complaint", "delivery")
    said = [m.text for m in await rows(core, Message, Message.direction == "out")]
    assert not any(USE_CASE in (text or "") for text in said)


async def test_onboarding_comes_later_with_a_short_intro_once_the_customer_is_free(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("/nps")
    await later(core, clock, minutes=16)
    assert channel.sent == []  # still answering the survey: onboarding waits
    await chat.press("9")
    await chat.say("Quick and friendly")
    await later(core, clock, minutes=31)
    assert channel.texts[0].startswith(LATER_INTRO)
    assert channel.texts[1] == USE_CASE  # the long welcome is skipped
    await chat.send(
        choice=next(b.value for _r, rs in channel.sent for r in rs for b in r.buttons if b.label == "For my work")
    )
    assert "Can I check in with you" in chat.last[-1].text


async def test_onboarding_waits_while_the_first_words_complaint_is_open(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("my order hasn't arrived")
    await chat.say("Nothing came")
    await chat.press("Order & delivery")
    await chat.press("Skip")
    await chat.press("Quite a lot")
    await later(core, clock, hours=2)
    assert channel.texts == []  # a tip or a questionnaire while their complaint is open would be tone-deaf


async def test_who_asked_to_cancel_is_not_onboarded_later(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("I want to cancel my subscription")
    await chat.press("It's too expensive")
    assert "passed your cancellation request on" in await chat.press("Yes")
    async with core.db.transaction() as session:  # staff dealt with it (resolved without the follow-up survey)
        await session.execute(update(Ticket).values(status=TicketStatus.RESOLVED, resolved_at=clock.now()))
    await later(core, clock, hours=2)
    assert channel.sent == []
    assert (await latest_run(core, "onboarding")).status == DONE  # started, and ended at once without a word
    assert [row.status for row in await onboarding_starts(core)] == ["done"]


async def test_who_says_stop_first_and_confirms_gets_no_onboarding_later(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("stop")
    assert "Done. You won't get any more messages from us" in await chat.press("Yes")
    await later(core, clock, hours=2)
    assert channel.sent == []
    assert [row.status for row in await onboarding_starts(core)] == ["cancelled"]


@pytest.mark.parametrize(
    ("answered", "back"),
    [
        ([], USE_CASE),  # the page's or Telegram's /start came first: onboarding is asking already
        (["For my work"], "Can I check in with you"),  # onboarding under way
    ],
)
async def test_a_complaint_over_onboardings_question_is_taken_at_once_and_the_question_comes_back_after(
    chat: Chat, core: Core, answered: list[str], back: str
) -> None:
    await chat.say("hi")
    for label in answered:
        await chat.press(label)
    said = await chat.say("my order is late")
    assert said.startswith(SET_ASIDE + "\nI'm sorry something has gone wrong")  # the question closed in words
    await chat.say("It never came")
    await chat.say("the first one")
    await chat.press("Skip")
    final = await chat.say("quite a lot")
    assert "Your reference is C-1001." in final
    assert f"Now, back to where we were:\n{back}" in final  # offered again once the complaint is logged
    assert await onboarding_starts(core) == []


async def test_no_to_check_ins_ends_onboarding_without_asking_for_an_email(chat: Chat, core: Core) -> None:
    await chat.say("hi")
    await chat.press("Just for me")
    said = await chat.press("No")
    assert said == (
        "No problem, I won't check in.\n"
        'You can reach me here any time. Just write, or type "menu" to see what I can do.'
    )
    assert (await latest_run(core, "onboarding")).status == DONE


async def test_yes_to_check_ins_asks_for_the_optional_email_then_confirms(chat: Chat) -> None:
    await chat.say("hi")
    await chat.press("Just for me")
    assert "what email address should our team use" in await chat.press("Yes")
    assert await chat.say("ana@example.com") == "Thanks, that's all for now. I'll check in with you tomorrow."


@pytest.fixture
def catalogue(flows_dir: Path) -> None:
    """A command whose first answer is a picture (written before the core reads the flows)."""
    (flows_dir / "catalogue.yaml").write_text(
        "version: 1\nflow: catalogue\ntriggers:\n  - command: /catalogue\nsteps:\n"
        "  - say: This season's catalogue.\n    media: https://example.com/catalogue.jpg\n",
        encoding="utf-8",
    )


async def test_the_welcome_comes_on_its_own_before_a_first_answer_that_is_a_picture(
    catalogue: None, chat: Chat
) -> None:
    welcome, picture = await chat.send("/catalogue")
    assert (welcome.text, welcome.media) == (WELCOME, None)
    assert picture.text == "This season's catalogue." and picture.media is not None


async def test_no_welcome_when_its_text_is_empty(tmp_path: Path, database_url: str, flows_dir: Path) -> None:
    settings = make_settings(tmp_path, database_url, flows_dir, texts={"first_words_welcome": ""})
    core = Core(settings)
    assert not await core.prepare()
    try:
        (answer, *_) = await Chat(core).send("/complain")
        assert answer.text.startswith("I'm sorry something has gone wrong")
    finally:
        await core.close()
