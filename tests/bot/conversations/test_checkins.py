"""Check-ins that never get stuck: reminders, giving up, late answers. On SQLite and PostgreSQL.

The onboarding flow is the starter one; the clock starts at 09:00 and moves a day at a time, so
the default timing (outreach.checkins: a reminder after 24 h, give up after 72 h) lands on whole days.
Quiet hours and the frequency cap are off: these tests are about the check-ins, not the delivery policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.config import Settings
from bot.conversations.kinds import ConversationKind
from bot.conversations.loader import parse_flow
from bot.conversations.models import DONE, WAITING
from bot.core import Core
from bot.outbox.models import OutboxItem
from bot.yamlsource import SourceError
from tests.bot.conversations.test_engine_steps import RecordingChannel, customer, latest_run, rows
from tests.conftest import Chat, FixedClock, make_settings, texts

POLICY_OFF = {"quiet_hours": None, "frequency_cap": None}

DAY1 = "Hi Ana, how is your first day with us going?"
DAY3 = "Quick check-in, Ana: how would you rate your first few days with us, from 1 (poor) to 5 (excellent)?"
DAY7 = "You've been with us a week now. Have you found everything you need so far?"
DAY30 = (
    "It's been a month since you joined, Ana. Overall, how would you rate your first month with us, "
    "from 1 (poor) to 5 (excellent)?"
)
CLOSING = 'You can reach me here any time. Just write, or type "menu" to see what I can do.'
THANKS_LATE = "Thanks for letting us know, I've noted that."
STALE = "That question has already been answered."
FALLBACK = "Sorry, I didn't understand that."

# Our own flows: one question with its own timing, asked an hour after /ping; and something that
# falls due (a day and a half after /later) while another question is unanswered.
PING_FLOW = """\
version: 1
flow: ping
triggers:
  - command: /ping
steps:
  - say: I'll ask you something in an hour.
  - wait: 1h
  - id: mood
    ask: How are you?
    expect: yes_no
    remind_after: 6h
    reminders: 2
    give_up_after: 1d
    on_timeout: shrug
  - end: Good to know.
  - id: shrug
    end: No worries, another time.
"""
LATER_FLOW = """\
version: 1
flow: later
triggers:
  - command: /later
steps:
  - say: See you in a day and a half.
  - wait: 1d12h
  - end: Here I am, as promised.
"""
PING = "How are you?"


def reminder(question: str) -> str:
    return f"Just a reminder:\n{question}"


def checkin_settings(tmp_path: Path, database_url: str, flows_dir: Path, **checkins: object) -> Settings:
    (flows_dir / "ping.yaml").write_text(PING_FLOW, encoding="utf-8")
    (flows_dir / "later.yaml").write_text(LATER_FLOW, encoding="utf-8")
    return make_settings(tmp_path, database_url, flows_dir, outreach={**POLICY_OFF, "checkins": checkins})


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return checkin_settings(tmp_path, database_url, flows_dir)


@pytest.fixture
def channel(core: Core) -> RecordingChannel:
    recording = RecordingChannel()
    core.add_channel(recording)
    return recording


@asynccontextmanager
async def core_with(settings: Settings, clock: FixedClock) -> AsyncIterator[tuple[Core, RecordingChannel]]:
    core = Core(settings, clock=clock)
    assert not await core.prepare()
    recording = RecordingChannel()
    core.add_channel(recording)
    try:
        yield core, recording
    finally:
        await core.close()


def button_value(chat: Chat, label: str) -> str:
    return next(b.value for r in chat.last for b in r.buttons if b.label == label)


def sent_button(channel: RecordingChannel, text: str, label: str) -> str:
    """A button under a message the dispatcher delivered (the customer may press it much later)."""
    return next(b.value for _ref, replies in channel.sent for r in replies if r.text == text for b in r.buttons
                if b.label == label)  # fmt: skip


async def press_value(chat: Chat, value: str) -> str:
    return texts(await chat.send(choice=value))


async def onboard(chat: Chat) -> str:
    """A new customer agrees to check-ins, then goes quiet. Returns a button of an answered question."""
    await chat.say("/start")
    answered = button_value(chat, "Just for me")
    await chat.press("For my work")
    await chat.press("Yes")
    assert "I'll check in with you tomorrow" in await chat.press("Skip")
    return answered


async def start_ping(chat: Chat, core: Core, clock: FixedClock) -> None:
    """/ping from a customer with nothing else running; its question goes out an hour later."""
    await chat.say("hi")
    await chat.say("cancel")
    await chat.say("/ping")
    clock.advance(hours=1)
    await core.dispatcher.drain()


async def days(core: Core, clock: FixedClock, n: int, **extra: float) -> None:
    """Let `n` days pass one at a time (then `extra`), carrying out what falls due on the way."""
    for _ in range(n):
        clock.advance(days=1)
        await core.dispatcher.drain()
    if extra:
        clock.advance(**extra)
        await core.dispatcher.drain()


async def remind_rows(core: Core) -> list[OutboxItem]:
    return await rows(core, OutboxItem, OutboxItem.kind == ConversationKind.REMIND_RUN)


# ---- an inactive customer -----------------------------------------------------------------------


async def test_an_inactive_customer_gets_one_reminder_per_check_in_and_every_check_in_still_comes(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 45)
    assert channel.texts == [
        DAY1, reminder(DAY1),  # day 1 and 2; given up on day 4, so day 3 comes two days later
        DAY3, reminder(DAY3),  # day 6 and 7; given up on day 9
        DAY7, reminder(DAY7),  # day 13 and 14; given up on day 16
        DAY30, reminder(DAY30),  # day 39 and 40; given up on day 42, with a friendly close
        CLOSING,
    ]  # fmt: skip
    run = await latest_run(core, "onboarding")
    assert run.status == DONE
    assert [run.answers[k] for k in ("day1", "day3", "day7", "day30")] == [None] * 4
    assert "onboarded" in (await customer(core)).tags
    assert {r.status for r in await remind_rows(core)} == {"done"}


async def test_with_no_reminders_configured_a_check_in_is_only_given_up(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    settings = checkin_settings(tmp_path, database_url, flows_dir, max_reminders=0)
    async with core_with(settings, clock) as (core, channel):
        await onboard(Chat(core))
        await days(core, clock, 14)
        assert channel.texts == [DAY1, DAY3, DAY7]


async def test_a_flow_started_by_an_event_reminds_its_first_question_and_stops_quietly_without_consent(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await chat.say("hello")
    await chat.say("cancel")
    await core.engine.fire_event((await customer(core)).id, "signed_up")
    await days(core, clock, 10)
    welcome, use_case, *rest = channel.texts
    assert welcome.startswith("Hi Ana, welcome to")
    assert use_case == "So we can help you better, what will you mainly use us for?"
    consent = rest[1]
    assert consent.startswith("Can I check in with you a few times")  # the profile question is skipped
    assert rest == [reminder(use_case), consent, reminder(consent)]
    run = await latest_run(core, "onboarding")
    assert (run.status, run.answers) == (DONE, {"use_case": None, "want_checkins": None})
    assert "onboarded" not in (await customer(core)).tags  # so /start offers the welcome again


async def test_a_question_asked_in_reply_to_the_customer_is_never_reminded(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    # Onboarding begun, so it is set aside rather than put off (a first message that is a command puts it off).
    await chat.say("hi")
    await chat.say("Just for me")
    await chat.say("/nps")  # the customer asked for it and is chatting
    await days(core, clock, 5)
    assert channel.sent == []
    assert await remind_rows(core) == []
    assert (await latest_run(core, "nps")).awaiting_answer


# ---- answers: on time, late, partial --------------------------------------------------------------


async def test_an_answer_before_the_reminder_cancels_it(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 1, hours=2)
    assert "Great to hear!" in await press_value(chat, sent_button(channel, DAY1, "Going well"))
    await days(core, clock, 2)  # past the reminder and the give-up time of the day 1 question
    assert channel.texts == [DAY1, DAY3]  # day 3 counts from the answer
    assert [r.status for r in await remind_rows(core)][:2] == ["cancelled", "cancelled"]


async def test_an_answer_after_the_reminder_but_before_giving_up_carries_on_as_usual(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 2, hours=6)
    assert channel.texts == [DAY1, reminder(DAY1)]
    assert "That's completely normal at the start" in await chat.say("still finding my way")
    await days(core, clock, 2)  # the old give-up time passes: nothing happens to the answered question
    assert (await latest_run(core, "onboarding")).answers["day1"] == "unsure"
    assert channel.texts == [DAY1, reminder(DAY1), DAY3]  # two days after the answer


async def test_a_late_typed_answer_after_giving_up_is_kept_and_thanked(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 4, hours=5)  # day 1 was given up at 09:00
    assert await chat.say("Something isn't right") == THANKS_LATE
    assert chat.buttons() == []  # not the menu for a message the bot did not understand
    run = await latest_run(core, "onboarding")
    assert (run.status, run.answers["day1"]) == (WAITING, "bad")
    await days(core, clock, 2)
    assert channel.texts == [DAY1, reminder(DAY1), DAY3]  # the branch is not re-run; day 3 on time
    assert await chat.say("4") == "Thank you, that's lovely to hear."
    assert (await latest_run(core, "onboarding")).answers["day3"] == 4


async def test_a_late_button_press_after_giving_up_is_kept_once_and_old_answered_buttons_stay_stale(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    answered_at_the_time = await onboard(chat)
    await days(core, clock, 5)
    late = sent_button(channel, DAY1, "Going well")
    assert await press_value(chat, late) == THANKS_LATE
    assert await press_value(chat, late) == STALE  # kept once
    assert await press_value(chat, answered_at_the_time) == STALE
    assert (await latest_run(core, "onboarding")).answers["day1"] == "good"


async def test_a_late_press_while_another_question_is_open_thanks_and_asks_the_open_one_again(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 6)  # day 1 given up, day 3 asked
    assert await press_value(chat, sent_button(channel, DAY1, "Still finding my way")) == f"{THANKS_LATE}\n{DAY3}"
    assert await chat.say("5") == "Thank you, that's lovely to hear."


async def test_own_timing_on_a_question_and_a_late_answer_only_within_the_window(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await start_ping(chat, core, clock)
    assert channel.texts == [PING]
    for hours in (6, 6, 12):  # remind_after 6h twice, give_up_after 1d
        before = list(channel.texts)
        clock.advance(hours=hours, minutes=-1)
        await core.dispatcher.drain()
        assert channel.texts == before
        clock.advance(minutes=1)
        await core.dispatcher.drain()
        assert len(channel.texts) == len(before) + 1
    assert channel.texts == [PING, reminder(PING), reminder(PING), "No worries, another time."]
    assert (await chat.say("maybe")).startswith(FALLBACK)  # not an answer to the question
    clock.advance(days=1, minutes=1)  # the window for a typed late answer (give_up_after) is over
    assert (await chat.say("yes")).startswith("Happy to help!")  # small talk now, not a late answer
    assert (await latest_run(core, "ping")).answers == {"mood": None}


async def test_a_typed_late_answer_is_taken_the_day_after_giving_up(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await start_ping(chat, core, clock)
    await days(core, clock, 1)  # the dispatcher was down: the overdue reminders are dropped, not sent at once
    assert channel.texts == [PING, "No worries, another time."]
    await days(core, clock, 0, hours=23)
    assert await chat.say("yes") == THANKS_LATE
    assert (await latest_run(core, "ping")).answers == {"mood": True}


async def test_a_partial_answer_is_finished_by_the_follow_up_s_own_timeout(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 1)
    await chat.say("Going well")
    await days(core, clock, 2)
    await chat.say("5")
    await days(core, clock, 4)
    assert channel.texts[-1] == DAY7
    assert "What are you looking for?" in await chat.say("no")
    await days(core, clock, 3)  # the follow-up is not reminded (they were chatting), then given up
    assert channel.texts[-1].startswith("A tip now that you've settled in")
    assert not [t for t in channel.texts if t.startswith("Just a reminder")]
    assert (await chat.say("where is the export button")).startswith(FALLBACK)  # free text: no late answer
    await days(core, clock, 23)
    assert channel.texts[-1] == DAY30
    run = await latest_run(core, "onboarding")
    assert (run.answers["day7"], run.answers["day7_missing"]) == (False, None)


async def test_an_opted_out_customer_gets_no_reminder_and_no_more_check_ins(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 1, hours=1)
    assert "stop receiving" in await chat.say("stop")
    await chat.press("Yes")
    await days(core, clock, 40)
    assert channel.texts == [DAY1]
    assert {r.status for r in await remind_rows(core)} == {"cancelled"}


async def test_something_due_while_a_check_in_is_unanswered_comes_and_the_check_ins_carry_on(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await chat.say("/later")  # falls due at 1.5 days, while the day 1 question is open
    await days(core, clock, 2)
    # The idle question is set aside for it, then asked again; its give-up time starts afresh.
    assert channel.texts == [DAY1, "Here I am, as promised.", f"Now, back to where we were:\n{DAY1}"]
    await days(core, clock, 6)
    assert channel.texts[3:] == [DAY3, reminder(DAY3)]  # day 1 given up on day 5, so day 3 on day 7
    assert (await latest_run(core, "onboarding")).answers["day1"] is None


async def test_a_check_in_given_up_while_set_aside_carries_on_once_the_customer_is_free(
    chat: Chat, core: Core, clock: FixedClock, channel: RecordingChannel
) -> None:
    await onboard(chat)
    await days(core, clock, 1, hours=1)
    await chat.say("/nps")  # the customer starts something else and leaves it there
    await days(core, clock, 3)  # day 1's give-up falls due while it is set aside
    run = await latest_run(core, "onboarding")
    assert (run.status, run.answers["day1"]) == (WAITING, None)  # quietly on to the day 3 wait
    await days(core, clock, 2)
    assert channel.texts == [DAY1, DAY3]  # not lost behind the abandoned survey, and on time


# ---- the flow language --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "line", "fragment"),
    [
        ("remind_after: 3 days", 8, "bad duration '3 days'"),
        ("give_up_after: soon", 8, "bad duration 'soon'"),
        ("remind_after: 0h", 8, "longer than zero"),
        ("reminders: -1", 8, "greater than or equal to 0"),
        ("reminders: 11", 8, "less than or equal to 10"),
        ("reminders: two", 8, "valid integer"),
        ("on_timeout: lattr", 8, 'unknown step "lattr" (did you mean "later"?)'),
        ("on_timout: later", 8, 'unknown key "on_timout" (did you mean "on_timeout"?)'),
        ("remind_after: 2d\n    give_up_after: 1d", 9, "remind_after (2d) must be shorter than give_up_after (1d)"),
    ],
)
def test_bad_reminder_keys_are_refused_with_the_line(keys: str, line: int, fragment: str) -> None:
    source = f"""\
flow: demo
triggers:
  - command: /demo
steps:
  - wait: 1d
  - id: how
    ask: How is it going?
    {keys}
  - id: later
    end: Bye.
"""
    with pytest.raises(SourceError) as caught:
        parse_flow(source, "flows/demo.yaml")
    found = [(p.line, p.message) for p in caught.value.problems]
    assert any(n == line and fragment in message for n, message in found), found


def test_a_step_reached_only_through_on_timeout_is_not_unreachable() -> None:
    assert parse_flow(PING_FLOW, "flows/ping.yaml").index_of("shrug") == 4
