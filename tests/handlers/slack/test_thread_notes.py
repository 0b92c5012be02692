"""Internal notes fail closed, end to end through Slack: a reply marked as a note in any of the ways staff type it stays
in Slack and on the timeline; a reply that might be a note reaches nobody until its author presses Send to customer
or Keep internal, privately asked in the thread; an ordinary reply reaches the customer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.transcript import Message
from handlers.server import build_app
from handlers.slack.relay import KEEP_HELD, SEND_HELD
from tests.conftest import FixedClock
from tests.handlers.slack.harness import ANA, RUI, SUPPORT, StaffSide, eventually, running, slack_settings
from tests.handlers.slack.test_reliability import web_complaint
from tests.support.slack_standin import SlackApiStandIn, block_action


async def told_customer(staff: StaffSide) -> list[str]:
    async with staff.core.db.sessions() as session:
        query = select(Message.text).where(Message.direction == "out").order_by(Message.id)
        return [t or "" for t in (await session.execute(query)).scalars() if (t or "").startswith("Ana Lima:")]


async def press_on_question(staff: StaffSide, user: str, action_id: str, question: dict[str, Any]) -> str:
    """Press a button on the private question; returns the response_url it answers through."""
    url = staff.api.response_url()
    message = {"type": "message", "blocks": question["blocks"], "text": question["text"]}
    value = next(e["value"] for b in question["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == action_id)  # fmt: skip
    ts = question["response"]["message_ts"]
    body = block_action(user, action_id, value, SUPPORT, ts, response_url=url, message=message)
    assert (await staff.send(body)).status_code == 200
    return url


@pytest.mark.parametrize(
    "written",
    ["*note:* the courier has it", "_note:_ the courier has it", "&gt; note: the courier has it",
     "notes: the courier has it", "Note - the courier has it", "[note] the courier has it",
     "internal: the courier has it", "*Internal note*\nthe courier has it"],
)  # fmt: skip
async def test_a_marked_note_never_reaches_the_customer(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock, written: str
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        await staff.write(ANA, written, staff.root())
        await eventually(lambda: _kinds(staff, "note"))
        await staff.dispatch()
        assert ("note", "ana", "the courier has it") in await staff.events()
        assert await told_customer(staff) == [] and slack.ephemerals(ANA) == []


async def test_a_reply_that_might_be_a_note_waits_for_its_author(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        root = staff.root()

        await staff.write(ANA, "Note that the refund takes 3 days", root)
        (question,) = await slack.wait_for(lambda: slack.ephemerals(ANA))
        assert question["params"]["thread_ts"] == root["ts"]
        assert "Not sent to the customer yet" in question["text"] and ">Note that the refund" in question["text"]
        await staff.dispatch()
        assert await told_customer(staff) == []  # held: nothing sent on a guess

        # Only its author decides: Rui pressing the button (a forged click) changes nothing.
        await press_on_question(staff, RUI, SEND_HELD, question)
        await eventually(lambda: slack.ephemerals(RUI))
        assert "only its author can decide" in slack.ephemerals(RUI)[0]["text"]

        url = await press_on_question(staff, ANA, SEND_HELD, question)
        await eventually(lambda: slack.responses_to(url))
        assert slack.responses_to(url)[0]["text"] == ":white_check_mark: Sent to the customer."
        await staff.dispatch()
        assert await told_customer(staff) == ["Ana Lima: Note that the refund takes 3 days"]
        await press_on_question(staff, ANA, SEND_HELD, question)  # pressed again: sent once
        await eventually(lambda: "already sent" in str(slack.ephemerals(ANA)))
        await staff.dispatch()
        assert len(await told_customer(staff)) == 1

        # The next one is kept internal.
        await staff.write(ANA, "<@U0RUI> can you check the depot?", root)
        await eventually(lambda: len([e for e in slack.ephemerals(ANA) if "Not sent" in e["text"]]) == 2)
        second = [e for e in slack.ephemerals(ANA) if "Not sent" in e["text"]][-1]
        url = await press_on_question(staff, ANA, KEEP_HELD, second)
        await eventually(lambda: slack.responses_to(url))
        await staff.dispatch()
        assert ("note", "ana", "@Rui Costa can you check the depot?") in await staff.events()
        assert len(await told_customer(staff)) == 1
        kinds = [kind for kind, _, _ in await staff.events()]
        assert kinds.count("held_reply") == 2 and kinds.count("staff_reply") == 1


async def test_an_ordinary_reply_reaches_the_customer(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        await staff.write(ANA, "The courier has it &amp; delivers today.", staff.root())
        await eventually(lambda: _kinds(staff, "staff_reply"))
        assert await told_customer(staff) == ["Ana Lima: The courier has it & delivers today."]


async def _kinds(staff: StaffSide, kind: str) -> bool:
    return kind in [k for k, _, _ in await staff.events()]
