"""Who may do what from Slack: only people in the staff directory claim, reassign, resolve and answer customers;
anyone else gets a private refusal and nothing changes. `/engage mine` and `/engage ticket`. Reassigning, the
Resolve form's checks, tickets without an escalation channel (the assignee's DM), and how the app starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from bot.config import Settings, load_settings
from bot.transcript import Message
from handlers.server import build_app, channel_report
from tests.conftest import Chat, FixedClock
from tests.handlers.slack.harness import ANA, EVE, RUI, SUPPORT, StaffSide, eventually, running, slack_settings
from tests.handlers.slack.test_reliability import web_complaint
from tests.support.slack_standin import SlackApiStandIn, slash_command

REFUSAL = "Only people in the staff directory can work on tickets."


async def test_someone_outside_the_staff_directory_is_refused_privately_and_nothing_changes(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        chat = await web_complaint(staff)
        await staff.dispatch()
        root = staff.root()
        before = await staff.events()

        for press in (
            staff.claim(EVE, root),
            staff.press(EVE, "ticket_resolve", root),
            staff.reassign(EVE, root, "rui"),
        ):
            assert (await press).status_code == 200
        await eventually(lambda: len(slack.ephemerals(EVE)) == 3)
        assert all(REFUSAL in e["text"] and EVE in e["text"] for e in slack.ephemerals(EVE))
        assert slack.views_opened == []  # no Resolve form for Eve

        # Eve writing in the thread does not reach the customer.
        await staff.write(EVE, "Hello from Eve", staff.root())
        await eventually(lambda: len(slack.ephemerals(EVE)) == 4)
        hint = slack.ephemerals(EVE)[-1]
        assert hint["params"]["thread_ts"] == root["ts"] and "was not sent" in hint["text"]

        # A Resolve form submitted by someone outside the directory is refused in the form itself.
        view = await staff.open_resolve(ANA, root)
        refused = await staff.submit_resolve(EVE, view, "Done")
        assert refused.status_code == 200 and refused.json()["response_action"] == "errors"

        await asyncio.sleep(0.2)
        await staff.dispatch()
        assert await staff.events() == before and staff.thread(root) == []
        ticket = await staff.ticket()
        assert ticket.status == "assigned" and ticket.resolution is None
        assert not await chat_has(chat, "Eve Stone: Hello from Eve")


async def test_the_resolve_form_needs_a_summary_and_a_ticket_is_resolved_once(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        root = staff.root()
        view = await staff.open_resolve(ANA, root)
        (opened,) = slack.calls("views.open")
        assert opened["view"]["title"]["text"] == "Resolve C-1001"

        empty = await staff.submit_resolve(ANA, view, "   ")
        assert empty.json() == {"response_action": "errors",
                                "errors": {"resolution": "Write what was done: the customer reads it."}}  # fmt: skip
        assert (await staff.submit_resolve(ANA, view, "Refunded", "Free delivery")).text == ""
        await eventually(lambda: _status_is(staff, "resolved"))

        # Pressing Resolve again on an old copy of the message, and submitting: refused privately, once resolved.
        again = await staff.submit_resolve(RUI, view, "Refunded twice?")
        assert again.status_code == 200
        await eventually(lambda: slack.ephemerals(RUI))
        assert "already resolved" in slack.ephemerals(RUI)[-1]["text"]
        await staff.dispatch()
        ticket = await staff.ticket()
        assert ticket.resolution == "Refunded" and ticket.compensation == "Free delivery"
        assert [t for t in staff.thread(root) if "Resolved by" in t] == [
            ":white_check_mark: Resolved by Ana Lima: Refunded\nCompensation offered: Free delivery\n"
            "The customer is asked whether the problem is solved, and for a rating."
        ]


async def test_reassigning_mentions_and_tells_the_new_person(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        root = staff.root()

        await staff.reassign(ANA, root, "rui")
        await staff.wait_thread(root, 1)
        assert staff.thread(root) == [f":arrow_right_hook: Ana Lima reassigned this ticket to <@{RUI}>."]
        await eventually(lambda: slack.dms_to(RUI))
        (dm,) = slack.dms_to(RUI)
        assert "Ana Lima passed you *Complaint C-1001" in dm["text"] and "archives/C0SUPPORT" in dm["text"]
        assert {"type": "mrkdwn", "text": f"*Assignee*\n<@{RUI}>"} in staff.shown(root)["blocks"][1]["fields"]

        # Reassigning to the person who already has it changes nothing.
        await staff.reassign(ANA, root, "rui")
        await eventually(lambda: slack.ephemerals(ANA))
        assert slack.ephemerals(ANA)[-1]["text"] == "C-1001 is already with Rui Costa."
        await staff.dispatch()
        assert len(staff.thread(root)) == 1 and len(slack.dms_to(RUI)) == 1


async def test_engage_mine_and_engage_ticket_answer_only_the_caller(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()

        async def engage(user: str, text: str) -> str:
            url = slack.response_url()
            answer = await staff.send(slash_command("/engage", text, user, SUPPORT, response_url=url))
            assert answer.status_code == 200 and answer.text == ""  # acked at once; the answer follows
            (body,) = await slack.wait_for(lambda: slack.responses_to(url))
            assert body["response_type"] == "ephemeral"
            return str(body["text"])

        mine = await engage(ANA, "mine")
        assert mine.startswith("Your open tickets (1):\n• *C-1001* My parcel never arrived (Assigned, first response")
        assert await engage(RUI, "mine") == "You have no open tickets."
        summary = await engage(RUI, "ticket c-1001")
        assert summary.startswith("*Complaint C-1001: My parcel never arrived*\n*Assigned* · with <@U0ANA>")
        assert "Customer: Joana Reis (standard) · delivery · normal" in summary
        assert await engage(ANA, "ticket C-9999") == "There is no ticket C-9999."
        assert (await engage(ANA, "")).startswith("`/engage mine`: your open tickets")
        assert REFUSAL in await engage(EVE, "mine")
        assert REFUSAL in await engage(EVE, "ticket C-1001")


async def test_without_an_escalation_channel_the_ticket_lives_in_the_assignees_dm(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    settings = slack_settings(tmp_path, sqlite_url, flows_dir, slack, slack={"channels": {}})
    app = build_app(settings, clock=clock, background=False)
    async with running(app, slack) as staff:
        chat = await web_complaint(staff)
        await staff.dispatch()
        dm = slack.dm_channel(ANA)
        root = staff.root(dm)
        assert slack.posts(SUPPORT) == [] and len(slack.dms_to(ANA)) == 1  # the post itself, no second DM
        assert (await staff.ticket()).desk_channel == dm

        await staff.write(ANA, "Looking into it", root)
        await eventually(lambda: chat_has(chat, "Ana Lima: Looking into it"))
        await chat.say("Thanks")
        await staff.dispatch()
        assert staff.thread(root) == [":speech_balloon: *Joana Reis* wrote:\n>Thanks"]


async def _status_is(staff: StaffSide, status: str) -> bool:
    return (await staff.ticket()).status == status


async def chat_has(chat: Chat, text: str) -> bool:
    async with chat.core.db.sessions() as session:
        found = await session.execute(select(Message.id).where(Message.text == text, Message.direction == "out"))
        return found.first() is not None


def test_socket_mode_is_chosen_by_the_app_token_and_the_start_report_says_how_slack_runs(
    tmp_path: Path, sqlite_url: str, flows_dir: Path
) -> None:
    api_url = "http://127.0.0.1:9/api/"

    def settings_with(**env: str) -> Settings:
        config = tmp_path / "config.yaml"
        config.write_text(f'flows: {{dir: "{flows_dir}"}}\nslack: {{channels: {{default: C0SUPPORT}}}}\n')
        return load_settings(config, env={"DATABASE_URL": sqlite_url, "SLACK_API_URL": api_url, **env})

    socket = settings_with(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    http = settings_with(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    post_only = settings_with(SLACK_BOT_TOKEN="xoxb-1")
    off = settings_with()

    paths = {name: [getattr(r, "path", "") for r in build_app(s, background=False).routes]
             for name, s in {"socket": socket, "http": http, "post_only": post_only}.items()}  # fmt: skip
    assert "/slack/events" in paths["http"]
    assert "/slack/events" not in paths["socket"] and "/slack/events" not in paths["post_only"]
    assert build_app(socket, background=False).state.slack.mode == "socket"

    def slack_line(settings: Settings) -> str:
        (line,) = [x for x in channel_report(settings) if x.startswith("slack:")]
        return line

    assert slack_line(socket).startswith("slack: Socket Mode via http://127.0.0.1:9; /engage for staff")
    assert slack_line(http).startswith("slack: events, buttons and /engage at http://127.0.0.1:8000/slack/events")
    assert "tickets: default -> C0SUPPORT" in slack_line(http)
    assert slack_line(post_only).startswith("slack: posting only")
    assert slack_line(off).startswith("slack: off")
    assert all("xoxb-1" not in line and "xapp-1" not in line for s in (socket, http) for line in channel_report(s))


async def test_in_socket_mode_the_app_connects_with_the_app_token_and_still_posts_escalations(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    settings = slack_settings(tmp_path, sqlite_url, flows_dir, slack, env={"SLACK_APP_TOKEN": "xapp-test"})
    app = build_app(settings, clock=clock, background=False)
    async with running(app, slack) as staff:
        # The stand-in has no WebSocket: the connection keeps being retried in the background, nothing blocks.
        (connect, *_) = await slack.wait_for_calls("apps.connections.open")
        assert connect["token"] == "xapp-test"
        await web_complaint(staff)
        await staff.dispatch()
        assert staff.root()["token"] == "xoxb-test"
