"""Every step kind, action and answer type, through the engine, with small test-only flows.

The flows live in tests/data/flows_engine/ (one concern per file); each test gets a private copy.
Everything runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot import outbox
from bot.config import Settings
from bot.conversations.kinds import ConversationKind
from bot.conversations.models import ACTIVE, CANCELLED, DONE, WAITING, ConversationRun
from bot.core import Core
from bot.customers.models import ChannelIdentity, Customer
from bot.messages import ChannelRef, Media, Reply
from bot.outbox.models import OutboxItem
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Ticket, TicketEvent
from bot.transcript import Message
from tests.conftest import Chat, FixedClock, make_settings

ENGINE_FLOWS = Path(__file__).resolve().parents[2] / "data" / "flows_engine"


def copy_engine_flows(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    shutil.copytree(ENGINE_FLOWS, target)
    return target


def engine_settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    # No opt-out flow among the test flows: "stop" unsubscribes at once.
    return make_settings(tmp_path, database_url, flows_dir, conversation={"stop_flow": ""})


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    return copy_engine_flows(tmp_path)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return engine_settings(tmp_path, database_url, flows_dir)


@dataclass
class RecordingChannel:
    """The Channel port for the web chat, remembering what the dispatcher sent."""

    name: str = "web"
    sent: list[tuple[ChannelRef, list[Reply]]] = field(default_factory=list)

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        self.sent.append((ref, list(replies)))

    @property
    def texts(self) -> list[str]:
        return [reply.text for _ref, replies in self.sent for reply in replies]


@pytest.fixture
def channel(core: Core) -> RecordingChannel:
    recording = RecordingChannel()
    core.add_channel(recording)
    return recording


# ---- reading the database back ------------------------------------------------------------


async def rows(core: Core, model: type, *where: Any) -> list[Any]:
    async with core.db.transaction() as session:
        return list((await session.execute(select(model).where(*where).order_by(model.id))).scalars())  # type: ignore[attr-defined]


async def count(core: Core, model: type, *where: Any) -> int:
    async with core.db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def customer(core: Core, chat: Chat | None = None) -> Customer:
    """The only customer, or the one behind `chat`."""
    if chat is None:
        (only,) = await rows(core, Customer)
        return only
    async with core.db.transaction() as session:
        query = select(Customer).join(ChannelIdentity).where(ChannelIdentity.address == chat.address)
        return (await session.execute(query)).scalar_one()


async def latest_run(core: Core, flow_id: str, chat: Chat | None = None) -> ConversationRun:
    where = [ConversationRun.flow_id == flow_id]
    if chat is not None:
        where.append(ConversationRun.customer_id == (await customer(core, chat)).id)
    runs = await rows(core, ConversationRun, *where)
    assert runs, f"flow {flow_id} never ran"
    return runs[-1]


def texts_of(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def another_customer(core: Core, case: str) -> Chat:
    """A fresh customer for one case of a table, so the cases share a database but nothing else."""
    return Chat(core, address=f"case-{case}")


async def resume_rows(core: Core) -> list[OutboxItem]:
    return await rows(core, OutboxItem, OutboxItem.kind == ConversationKind.RESUME_RUN)


# ---- first contact, say and its buttons -----------------------------------------------------


async def test_the_first_message_of_a_new_customer_starts_the_first_contact_flow(chat: Chat, core: Core) -> None:
    first = await chat.say("hi")
    assert first == "Hello! This is the first_contact flow."
    second = await chat.say("hi")
    assert "first_contact" not in second
    assert [run.flow_id for run in await rows(core, ConversationRun)] == ["welcome"]


SAY_BUTTONS = [
    # (button under the say step, what the bot says then, the buttons it shows then)
    ("Start the survey", "How likely are you to recommend us", [str(n) for n in range(11)]),
    ("Main menu", "How can I help?", ["Report a problem", "Give feedback", "Talk to a person"]),
    ("Talk to someone", "I've passed this to our team (ticket C-", []),
]


async def test_a_say_button_starts_a_flow_shows_the_menu_or_opens_a_handoff_ticket(core: Core) -> None:
    for label, expected_text, expected_buttons in SAY_BUTTONS:
        chat = another_customer(core, label)
        assert "What would you like to do?" in await chat.say("/buttons")
        assert chat.buttons() == ["Start the survey", "Main menu", "Talk to someone"]
        assert expected_text in await chat.press(label), label
        assert chat.buttons() == expected_buttons, label
    (ticket,) = await rows(core, Ticket)
    assert (ticket.ref, ticket.kind) == ("C-1001", "handoff")


# ---- set, branch, goto, next ----------------------------------------------------------------


ROUTES = [
    # (case, customer tier, customer attributes, what is said, what must not be said)
    ("tier gold, by next", "gold", {"plan": "pro"}, "Hi Ana, gold customer (level 2).", ["pro plan", "standard plan"]),
    ("attribute pro, by goto", "standard", {"plan": "pro"}, "Hi Ana, pro plan.", ["gold customer", "standard plan"]),
    ("neither, by else", "standard", {}, "Hi Ana, standard plan.", ["gold customer", "pro plan"]),
]


async def test_set_branch_goto_and_next_route_by_customer_tier_and_attributes(core: Core) -> None:
    for case, tier, attributes, said, not_said in ROUTES:
        chat = another_customer(core, case)
        await chat.say("hi")
        person_id = (await customer(core, chat)).id
        async with core.db.transaction() as session:
            await session.execute(
                update(Customer).where(Customer.id == person_id).values(tier=tier, attributes=attributes)
            )
        reply = await chat.say("/route")
        assert said in reply, case
        assert not [other for other in not_said if other in reply], case
        assert reply.endswith("Routing done."), case
        run = await latest_run(core, "routing", chat)
        assert (run.status, run.answers) == (DONE, {"greeting": "Hi Ana", "level": 2}), case


async def test_a_branch_on_an_answer_picks_the_matching_step(core: Core) -> None:
    for score, expected in [("10", "Wonderful, thank you!"), ("4", "What should we do better?")]:
        chat = another_customer(core, score)
        await chat.say("/survey")
        assert expected in await chat.say(score), score


# ---- actions --------------------------------------------------------------------------------


async def test_customer_actions_tag_set_attributes_record_surveys_toggle_consent_and_hand_off(
    chat: Chat, core: Core
) -> None:
    assert "Rate us from 1 to 5." in await chat.say("/actions")
    reply = await chat.press("4")
    assert "Subscribed now: False." in reply
    assert "Subscribed again: True." in reply
    assert "A person takes over (C-1001, handoff)." in reply

    person = await customer(core)
    assert person.tags == ["vip"]
    assert person.attributes == {"plan": "pro", "seats": 5}
    assert person.subscribed is True and person.opted_out_at is None
    surveys = {(r.survey, r.kind): (r.score, r.comment) for r in await rows(core, SurveyResponse)}
    assert surveys == {("test_csat", "csat"): (4, None), ("test_text", "text"): (None, "rated 4")}
    (ticket,) = await rows(core, Ticket)
    assert (ticket.kind, ticket.category, ticket.summary) == ("handoff", "billing", "Wants a person")


async def test_record_survey_nps_keeps_the_score_and_the_comment(chat: Chat, core: Core) -> None:
    await chat.say("/survey")
    await chat.press("6")
    assert "Thanks for the feedback!" in await chat.say("Faster replies, please")
    (response,) = await rows(core, SurveyResponse)
    assert (response.survey, response.kind, response.score, response.comment) == (
        "test_nps", "nps", 6, "Faster replies, please",
    )  # fmt: skip


async def test_open_ticket_names_the_ticket_and_attaches_the_photo_answer(chat: Chat, core: Core) -> None:
    await chat.say("/complain")
    assert "Send a photo" in await chat.say("The box was crushed")
    assert texts_of(await chat.send(media=Media("photo", "file-123"))).endswith("Thank you. Your ticket is C-1001.")
    (ticket,) = await rows(core, Ticket)
    assert (ticket.kind, ticket.category, ticket.severity) == ("complaint", "delivery", "high")
    assert ticket.summary == "The box was crushed"
    assert ticket.attachments == [{"kind": "photo", "ref": "file-123"}]


async def test_a_skipped_photo_opens_the_ticket_without_attachment(chat: Chat, core: Core) -> None:
    await chat.say("/complain")
    await chat.say("The box was crushed")
    assert (await chat.press("Skip")).endswith("Thank you. Your ticket is C-1001.")
    (ticket,) = await rows(core, Ticket)
    assert ticket.attachments == []
    assert (await latest_run(core, "complaint")).answers == {"what": "The box was crushed", "photo": None}


async def test_start_flow_ends_this_flow_and_starts_the_named_one(chat: Chat, core: Core) -> None:
    reply = await chat.say("/handover")
    assert "Passing you to the survey.\nHow likely are you to recommend us" in reply
    assert (await latest_run(core, "handover")).status == DONE
    survey = await latest_run(core, "survey")
    assert (survey.status, survey.awaiting_answer) == (ACTIVE, True)


async def test_a_complaint_in_the_middle_of_a_survey_opens_a_ticket_and_the_survey_resumes(
    chat: Chat, core: Core
) -> None:
    await chat.say("/survey")
    assert "What happened?" in await chat.say("my order is late")
    await chat.say("It was due on Monday")
    final = await chat.press("Skip")
    assert "Your ticket is C-1001." in final
    assert "Now, back to where we were:\nHow likely are you to recommend us" in final
    assert "Wonderful" in await chat.say("9")
    assert await count(core, Ticket) == 1


# ---- answer types ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How the customer answers: typed text, a pressed button (by label) or a media message."""

    text: str | None = None
    press: str | None = None
    media: Media | None = None


ANSWERS = [
    # (case, flow asking one question of that type, how the customer answers, what is saved)
    ("text", "ask_text", Answer("Blue, mostly"), "Blue, mostly"),
    ("choice by button", "ask_choice", Answer(press="Good"), "good"),
    ("choice by number", "ask_choice", Answer("3"), "bad"),
    ("choice by label", "ask_choice", Answer("very GOOD"), "very_good"),
    ("choice by fuzzy label", "ask_choice", Answer("verry good"), "very_good"),
    ("yes_no typed", "ask_yes_no", Answer("yes please"), True),
    ("yes_no by button", "ask_yes_no", Answer(press="No"), False),
    ("rating typed", "ask_rating", Answer("4"), 4),
    ("rating by button", "ask_rating", Answer(press="2"), 2),
    ("nps typed", "ask_nps", Answer("10"), 10),
    ("nps by button", "ask_nps", Answer(press="0"), 0),
    ("number within min and max", "ask_number", Answer("250"), 250),
    ("email", "ask_email", Answer("ana@example.com"), "ana@example.com"),
    ("phone", "ask_phone", Answer("+44 20 7946 0958"), "+442079460958"),
    ("date", "ask_date", Answer("2026-03-14"), "2026-03-14"),
    ("media", "ask_media", Answer(media=Media("photo", "photo-1")), {"kind": "photo", "ref": "photo-1"}),
    ("media skipped", "ask_media", Answer(press="Skip"), None),
]


async def test_every_answer_type_is_read_and_saved(core: Core) -> None:
    for case, flow_id, answer, saved in ANSWERS:
        chat = another_customer(core, case)
        await chat.say(f"/{flow_id}")
        if answer.press is not None:
            reply = await chat.press(answer.press)
        else:
            reply = texts_of(await chat.send(answer.text, media=answer.media))
        assert reply.endswith("Saved."), (case, reply)
        run = await latest_run(core, flow_id, chat)
        assert (run.status, run.answers) == (DONE, {"answer": saved}), case


QUESTION_BUTTONS = [
    ("ask_choice", "choice", ["Very good", "Good", "Bad"]),
    ("ask_yes_no", "yes_no", ["Yes", "No"]),
    ("ask_rating", "rating", ["1", "2", "3", "4", "5"]),
    ("ask_nps", "nps", [str(n) for n in range(11)]),
    ("ask_media", "media", ["Skip"]),
    ("ask_text", "text", []),
]


async def test_questions_show_the_buttons_of_their_answer_type(core: Core) -> None:
    for flow_id, kind, buttons in QUESTION_BUTTONS:
        chat = another_customer(core, flow_id)
        await chat.say(f"/{flow_id}")
        assert (chat.buttons(), chat.last[-1].answer_kind) == (buttons, kind), flow_id


# ---- invalid answers, retries, stale buttons ------------------------------------------------


async def test_an_invalid_answer_is_reasked_with_the_step_s_own_invalid_text(chat: Chat, core: Core) -> None:
    await chat.say("/ask_number")
    reply = await chat.say("about a thousand")
    assert reply == "Please send a number from 1 to 500.\nHow many seats do you need?"
    run = await latest_run(core, "ask_number")
    assert (run.status, run.awaiting_answer, run.attempts, run.answers) == (ACTIVE, True, 1, {})
    assert (await chat.say("12")).endswith("Saved.")


async def test_after_the_retries_a_person_is_offered_and_pressing_it_opens_a_handoff_ticket(
    chat: Chat, core: Core
) -> None:
    await chat.say("/ask_number")
    await chat.say("lots")  # retries: 1, so this one is asked again...
    reply = await chat.say("many")  # ...and this one gives up
    assert "Would you like to talk to a person?" in reply
    assert chat.buttons() == ["Talk to a person", "Try again"]
    assert await count(core, Ticket) == 0

    assert "I've passed this to our team (ticket C-1001)" in await chat.press("Talk to a person")
    (ticket,) = await rows(core, Ticket)
    assert ticket.kind == "handoff"
    assert "customer: lots" in ticket.description and "customer: many" in ticket.description
    assert (await latest_run(core, "ask_number")).status == CANCELLED


async def test_try_again_after_the_retries_asks_the_question_afresh(chat: Chat) -> None:
    await chat.say("/ask_number")
    await chat.say("lots")
    await chat.say("many")
    assert await chat.press("Try again") == "How many seats do you need?"
    assert (await chat.say("7")).endswith("Saved.")


async def test_pressing_an_answer_button_twice_is_politely_refused_and_changes_nothing(chat: Chat, core: Core) -> None:
    await chat.say("/survey")
    (button,) = [b for b in chat.last[-1].buttons if b.label == "3"]
    assert "What should we do better?" in texts_of(await chat.send(choice=button.value))
    before = await latest_run(core, "survey")

    again = await chat.send(choice=button.value)
    assert texts_of(again) == "That question has already been answered."
    after = await latest_run(core, "survey")
    assert (after.step_index, after.answers, after.status) == (before.step_index, {"score": 3}, ACTIVE)
    assert await count(core, ConversationRun) == 1  # the survey (the welcome waits: /survey came first), nothing new


# ---- restarting, global words, fallback, open tickets -----------------------------------------


async def test_starting_the_same_flow_again_restarts_it(chat: Chat, core: Core) -> None:
    await chat.say("/survey")
    await chat.say("5")
    assert "How likely are you to recommend us" in await chat.say("/survey")
    runs = await rows(core, ConversationRun, ConversationRun.flow_id == "survey")
    assert [(r.status, r.answers) for r in runs] == [(CANCELLED, {"score": 5}), (ACTIVE, {})]
    assert runs[-1].step_index == 0


async def test_the_cancel_word_stops_the_flow_and_shows_the_menu(chat: Chat, core: Core) -> None:
    await chat.say("/survey")
    reply = await chat.say("cancel")
    assert reply == "OK, I've stopped that."
    assert "Give feedback" in chat.buttons()
    assert (await latest_run(core, "survey")).status == CANCELLED
    assert "There's nothing to cancel." in await chat.say("cancel")


async def test_the_menu_word_shows_the_menu_buttons_and_the_question_stays_open(chat: Chat, core: Core) -> None:
    await chat.say("/survey")
    reply = await chat.say("menu")
    assert reply == "How can I help? Choose an option below or just type what you need."
    assert chat.buttons() == ["Report a problem", "Give feedback", "Talk to a person"]
    assert "Wonderful" in await chat.say("9")


async def test_unknown_text_gets_the_menu_and_a_person_never_silence(chat: Chat) -> None:
    await chat.say("hi")
    for text in ["asdkjh qwe zxc", "What's the weather on Mars?", "?", "🦄🦄"]:
        reply = await chat.say(text)
        if text in ("?", "🦄🦄"):  # small talk: a friendly word instead of "I didn't understand"
            assert reply == "Happy to help! Just type what you need, or choose below:", text
        else:
            assert reply == "Sorry, I didn't understand that. Here is what I can help with:", text
        assert chat.buttons() == ["Report a problem", "Give feedback", "Talk to a person"], text


async def test_writing_while_a_handoff_ticket_is_open_adds_the_message_to_the_ticket(chat: Chat, core: Core) -> None:
    assert "I've passed this to our team (ticket C-1001)" in await chat.say("talk to a person")
    reply = await chat.say("Any news on this?")
    assert reply == "I've added this to your ticket C-1001. Our team will reply here."
    events = await rows(core, TicketEvent, TicketEvent.kind == "customer_message")
    assert [(e.actor, e.body) for e in events] == [("customer", "Any news on this?")]
    assert await count(core, Ticket) == 1


# ---- wait and the dispatcher ----------------------------------------------------------------


async def test_a_wait_pauses_the_flow_and_the_dispatcher_resumes_it_when_due(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("hi")  # known already: a first message that is a command puts the welcome off
    assert (await chat.say("/checkin")).endswith("I'll check in with you in three days.")
    run = await latest_run(core, "checkin")
    assert (run.status, run.resume_at) == (WAITING, clock.now() + timedelta(days=3))

    clock.advance(days=2, hours=23, minutes=59)
    assert await core.dispatcher.drain() == 0
    assert channel.sent == []
    assert (await latest_run(core, "checkin")).status == WAITING

    clock.advance(minutes=1)
    await core.dispatcher.drain()
    question = "It's been three days. How is it going, from 1 to 5?"
    assert channel.texts == [question]
    assert channel.sent[0][0] == ChannelRef("web", chat.address)
    assert channel.sent[0][1][0].answer_kind == "rating"
    out = await rows(core, Message, Message.direction == "out")
    assert out[-1].text == question
    sends = await rows(core, OutboxItem, OutboxItem.kind == outbox.SEND)
    assert [(s.status, s.payload["replies"][0]["text"]) for s in sends] == [("done", question)]
    assert [r.status for r in await resume_rows(core)] == ["done"]

    (four,) = [b for b in channel.sent[0][1][0].buttons if b.label == "4"]  # pressed under the delivered message
    assert texts_of(await chat.send(choice=four.value)) == "Thanks, talk soon."
    assert (await latest_run(core, "checkin")).status == DONE


async def test_a_wait_inside_a_loop_resumes_every_time_it_is_reached(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("hi")  # known already: a first message that is a command puts the welcome off
    await chat.say("/daily")
    for day in (1, 2, 3):
        clock.advance(days=1)
        await core.dispatcher.drain()
        assert channel.texts == ["Daily check-in. Still happy?"] * day, f"day {day}"
        await chat.say("yes")
    assert (await latest_run(core, "daily")).status == WAITING


async def test_a_due_check_in_waits_while_the_customer_is_in_another_flow(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("/checkin")
    clock.advance(days=3)
    await chat.say("/survey")  # mid-survey when the check-in falls due
    await core.dispatcher.drain()
    assert channel.sent == []
    assert (await latest_run(core, "checkin")).status == WAITING
    (row,) = await resume_rows(core)
    assert (row.status, row.due_at) == ("pending", clock.now() + timedelta(minutes=15))

    await chat.say("10")  # the survey ends
    clock.advance(minutes=15)
    await core.dispatcher.drain()
    assert channel.texts == ["It's been three days. How is it going, from 1 to 5?"]


async def test_opting_out_cancels_waiting_check_ins(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("/checkin")
    assert "You won't get any more messages from us" in await chat.say("stop")
    assert (await latest_run(core, "checkin")).status == CANCELLED
    assert [r.status for r in await resume_rows(core)] == ["cancelled"]

    clock.advance(days=30)
    assert await core.dispatcher.drain() == 0
    assert channel.sent == []
    assert (await customer(core)).subscribed is False


async def test_a_flow_that_pauses_gives_the_foreground_back_to_the_flow_it_interrupted(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("hi")  # known already: a first message that is a command puts the welcome off
    await chat.say("/survey")
    reply = await chat.say("please remind me tomorrow")
    assert "OK, I'll remind you tomorrow." in reply
    assert "Now, back to where we were:\nHow likely are you to recommend us" in reply
    assert "Wonderful" in await chat.say("9")

    clock.advance(days=1)
    await core.dispatcher.drain()
    assert channel.texts == ["This is your reminder."]
    assert (await latest_run(core, "reminder")).status == DONE


async def test_a_step_whose_text_renders_to_nothing_sends_no_empty_message(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    (flows_dir / "note.yaml").write_text(
        "version: 1\nflow: note\ntitle: Note\ntriggers:\n  - command: /note\nsteps:\n"
        '  - say: "{{ customer.attributes.note }}"\n  - say: "Noted."\n  - end: "{{ customer.attributes.bye }}"\n',
        encoding="utf-8",
    )
    core = Core(engine_settings(tmp_path, database_url, flows_dir), clock=clock)
    assert not await core.prepare()
    try:
        chat = Chat(core)
        await chat.say("hi")
        assert [reply.text for reply in await chat.send("/note")] == ["Noted."]
    finally:
        await core.close()
