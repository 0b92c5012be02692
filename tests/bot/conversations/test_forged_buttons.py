"""Forged, garbled and out-of-range button payloads change nothing: the customer gets the polite stale-button notice,
the log gets one line (no traceback), and no run, answer, ticket or survey score moves. Buttons the bot really
showed (an answer, a flow offered under a `say` or in a campaign message) still work. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.conversations import buttons
from bot.conversations import schema as s
from bot.conversations.models import ConversationRun
from bot.core import Core
from bot.outbox.models import OutboxItem
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Ticket
from tests.bot.conversations.test_engine_steps import another_customer, count, latest_run, rows, texts_of
from tests.bot.outreach.test_campaign_delivery import WebInbox, a_customer, send
from tests.conftest import Chat, FixedClock, make_settings

STALE = "That question has already been answered."
ENGINE_LOG = "bot.conversations.presses"  # where a refused press is logged

# Two flows nobody can start by typing: one offered under a `say` step, one in a campaign message.
EXTRA_FLOWS = {
    "perks.yaml": """
version: 1
flow: perks
triggers:
  - command: /perks
steps:
  - say: Members get perks.
    buttons:
      - {label: "See the members' offer", flow: members_offer}
  - end: true
""",
    "members_offer.yaml": """
version: 1
flow: members_offer
triggers:
  - event: became_member
steps:
  - say: Here is your members' offer.
  - end: true
""",
    "winback_offer.yaml": """
version: 1
flow: winback_offer
triggers:
  - event: winback
steps:
  - say: Welcome back! Here is 20% off.
  - end: true
""",
}
CAMPAIGNS = {
    "winback": {"kind": "win_back", "message": "We miss you, {{ customer.first_name }}!",
                "buttons": [{"label": "Come back", "flow": "winback_offer"}]},
}  # fmt: skip


@pytest.fixture
def flows_dir(flows_dir: Path) -> Path:
    for name, source in EXTRA_FLOWS.items():
        (flows_dir / name).write_text(source.lstrip(), encoding="utf-8")
    return flows_dir


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, campaigns=CAMPAIGNS)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))  # outside the default quiet hours


async def state(core: Core) -> dict[str, Any]:
    """Everything a button could change: every run of every customer, survey scores, tickets, queued work."""
    runs = [
        (r.id, r.customer_id, r.flow_id, r.status, r.step_index, r.awaiting_answer, r.attempts, r.answers, r.context)
        for r in await rows(core, ConversationRun)
    ]
    return {"runs": runs, "surveys": await count(core, SurveyResponse), "tickets": await count(core, Ticket),
            "outbox": await count(core, OutboxItem)}  # fmt: skip


def answer_button(chat: Chat) -> buttons.AnswerButton:
    pressed = buttons.parse(next(b.value for r in chat.last for b in r.buttons if b.value.startswith("a:")))
    assert isinstance(pressed, buttons.AnswerButton)
    return pressed


def engine_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ENGINE_LOG]


async def test_forged_and_out_of_range_buttons_change_nothing_and_log_one_warning_each(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    other = another_customer(core, "other")
    await other.say("hi")  # onboarding asks them what they use us for
    theirs = answer_button(other)

    steps = core.registry.current("onboarding").flow.steps  # type: ignore[union-attr]
    forged_cases = 0
    for case, make in FORGED:
        chat = another_customer(core, case)
        await chat.say("hi")
        mine = answer_button(chat)  # the open question: run R, step S, 4 options
        later_question = next(i for i, st in enumerate(steps) if isinstance(st, s.AskStep) and i > mine.step_index)
        not_a_question = next(i for i, st in enumerate(steps) if not isinstance(st, s.AskStep))
        value = make(mine, theirs, later_question, not_a_question)
        before = await state(core)
        caplog.clear()

        replies = await chat.send(choice=value)

        assert texts_of(replies) == STALE, (case, value)
        assert await state(core) == before, (case, value)
        (line,) = engine_lines(caplog)
        assert (line.levelno, line.exc_info) == (logging.WARNING, None), (case, line.getMessage())
        assert "button ignored" in line.getMessage() and "\n" not in line.getMessage(), case
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], case
        forged_cases += 1

        # The customer's real button still answers their question: nothing was spent or moved.
        assert "check in with you" in texts_of(await chat.send(choice=mine.value)), case
    assert forged_cases == len(FORGED)
    assert "check in with you" in texts_of(await other.send(choice=theirs.value))  # the other customer's run too


FORGED = [
    # (case, payload from: my open question, the other customer's, a later question, a step that asks nothing)
    ("a run id past 64 bits", lambda m, o, q, n: f"a:9223372036854775808:{m.step_index}:0"),
    ("a run id past 32 bits", lambda m, o, q, n: f"a:2147483648:{m.step_index}:0"),
    ("a step past 32 bits", lambda m, o, q, n: f"a:{m.run_id}:2147483648:0"),
    ("an option past 32 bits", lambda m, o, q, n: f"a:{m.run_id}:{m.step_index}:99999999999"),
    ("run id zero", lambda m, o, q, n: f"a:0:{m.step_index}:0"),
    ("a negative run id", lambda m, o, q, n: f"a:-{m.run_id}:{m.step_index}:0"),
    ("a negative step", lambda m, o, q, n: f"a:{m.run_id}:-1:0"),
    ("a negative option", lambda m, o, q, n: f"a:{m.run_id}:{m.step_index}:-1"),
    ("letters for a run id", lambda m, o, q, n: f"a:abc:{m.step_index}:0"),
    ("full-width digits", lambda m, o, q, n: f"a:{m.run_id}:{m.step_index}:１"),
    ("a superscript option", lambda m, o, q, n: f"a:{m.run_id}:{m.step_index}:²"),
    ("a padded run id", lambda m, o, q, n: f"a:0{m.run_id}:{m.step_index}:0"),
    ("a fourth part", lambda m, o, q, n: f"a:{m.run_id}:{m.step_index}:0:0"),
    ("another customer's run", lambda m, o, q, n: o.value),
    ("a run that does not exist", lambda m, o, q, n: f"a:{m.run_id + 1000}:{m.step_index}:0"),
    ("a step that was not asked", lambda m, o, q, n: f"a:{m.run_id}:{q}:0"),
    ("a step that asks nothing", lambda m, o, q, n: f"a:{m.run_id}:{n}:0"),
    ("a step past the flow's end", lambda m, o, q, n: f"a:{m.run_id}:999:0"),
    ("an option out of range", lambda m, o, q, n: f"a:{m.run_id}:{m.step_index}:4"),
    ("skip on a question that cannot be skipped", lambda m, o, q, n: f"a:{m.run_id}:{m.step_index}:skip"),
    ("the internal ticket follow-up", lambda m, o, q, n: "f:ticket_followup"),
    ("a flow offered to someone else", lambda m, o, q, n: "f:members_offer"),
    ("a campaign flow", lambda m, o, q, n: "f:winback_offer"),
    ("a flow that does not exist", lambda m, o, q, n: "f:no_such_flow"),
    ("a flow id in capitals", lambda m, o, q, n: "f:NPS"),
    ("the stop word", lambda m, o, q, n: "g:stop"),
    ("the cancel word", lambda m, o, q, n: "g:cancel"),
    ("resubscribe", lambda m, o, q, n: "g:resubscribe"),
    ("a word in capitals", lambda m, o, q, n: "g:MENU"),
    ("no word", lambda m, o, q, n: "g:"),
    ("no kind at all", lambda m, o, q, n: "hello"),
]


async def test_a_forged_ticket_follow_up_records_no_score_and_opens_no_flow(
    core: Core, chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    await chat.say("hi")
    await chat.say("cancel")
    caplog.set_level(logging.INFO)
    for _ in range(3):  # pressed again and again, as a script would
        assert texts_of(await chat.send(choice="f:ticket_followup")) == STALE
        assert texts_of(await chat.send(choice="a:1:1:4")) == STALE  # the "5" of its rating, guessed
    assert await count(core, SurveyResponse) == 0
    assert await count(core, ConversationRun, ConversationRun.flow_id == "ticket_followup") == 0
    assert len([r for r in engine_lines(caplog) if r.levelno == logging.WARNING]) == 6


async def test_a_flow_offered_under_a_say_step_starts_for_the_customer_it_was_offered_to_only(core: Core) -> None:
    member = another_customer(core, "member")
    await member.say("hi")
    await member.say("cancel")
    await member.say("/perks")
    assert await member.press("See the members' offer") == "Here is your members' offer."

    stranger = another_customer(core, "stranger")
    await stranger.say("hi")
    await stranger.say("cancel")
    assert texts_of(await stranger.send(choice="f:members_offer")) == STALE
    assert [r.customer_id for r in await rows(core, ConversationRun, ConversationRun.flow_id == "members_offer")] == [
        (await latest_run(core, "perks", member)).customer_id
    ]


async def test_a_flow_offered_in_a_campaign_message_starts_for_its_recipients_only(
    core: Core, clock: FixedClock, inbox: WebInbox
) -> None:
    await a_customer(core, clock, "ana", "Ana Lima")
    clock.advance(hours=1)
    await send(core, "winback")
    (reply,) = [r for to, r in inbox.sent if to == "ana" and r.text == "We miss you, Ana!"]
    ana = Chat(core, address="ana", last=[reply])
    assert await ana.press("Come back") == "Welcome back! Here is 20% off."

    ben = Chat(core, address="ben", name="Ben Okafor")  # wrote to us after the campaign went out
    await ben.say("hi")
    await ben.say("cancel")
    assert texts_of(await ben.send(choice="f:winback_offer")) == STALE
    assert await count(core, ConversationRun, ConversationRun.flow_id == "winback_offer") == 1


@pytest.fixture
async def inbox(core: Core) -> WebInbox:
    channel = WebInbox()
    core.add_channel(channel)
    return channel


async def test_flows_a_customer_can_start_themselves_start_from_a_button_without_having_been_offered_it(
    chat: Chat,
) -> None:
    await chat.say("hi")
    await chat.say("cancel")
    # A command (/csat), a menu entry and an intent (nps), typed or pressed: the same either way.
    assert "How satisfied were you" in texts_of(await chat.send(choice="f:csat"))
    assert "How likely are you to recommend" in texts_of(await chat.send(choice="f:nps"))


async def test_pressing_an_answered_question_again_is_stale_and_logged_as_such_not_as_forged(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    await chat.say("hi")
    first = answer_button(chat)
    await chat.send(choice=first.value)
    caplog.set_level(logging.INFO)
    caplog.clear()
    assert texts_of(await chat.send(choice=first.value)) == STALE
    (line,) = engine_lines(caplog)
    assert (line.levelno, "no longer open" in line.getMessage()) == (logging.INFO, True)
