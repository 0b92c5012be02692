"""Slack being Slack: outages and rate limits (notices wait in the outbox and are posted exactly once), SLA
reminders and breaches (once each, however often the watch runs), forged or stale requests (401, nothing happens),
and events delivered twice (the customer hears the staff reply once)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.outbox.models import PENDING, OutboxItem
from bot.tickets.kinds import TicketKind
from handlers.server import build_app
from tests.conftest import Chat, FixedClock
from tests.handlers.slack.harness import ANA, RUI, SUPPORT, StaffSide, eventually, running, slack_settings
from tests.handlers.telegram.harness import TgUser
from tests.support.botapi_standin import BotApiStandIn
from tests.support.slack_standin import SlackApiStandIn, block_action, message_event, url_verification


async def web_complaint(staff: StaffSide, *, severity: str = "Quite a lot") -> Chat:
    """A web chat customer past the welcome reports a late parcel (ticket C-1001, routed to Ana)."""
    chat = Chat(staff.core, address="visitor-0000000000000001", name="Joana Reis")
    await chat.say("hi")
    await chat.say("cancel")
    await chat.say("/complain")
    await chat.say("My parcel never arrived")
    await chat.press("Order & delivery")
    await chat.press("Skip")
    assert "C-1001" in await chat.press(severity)
    return chat


async def pending_notices(staff: StaffSide) -> list[OutboxItem]:
    async with staff.core.db.sessions() as session:
        query = select(OutboxItem).where(OutboxItem.kind == TicketKind.STAFF_NOTICE, OutboxItem.status == PENDING)
        return list((await session.execute(query)).scalars())


# ---- Slack down, rate limited, half-way failures ----------------------------------------------------------------


async def test_a_ticket_opened_while_slack_is_down_is_posted_once_when_it_is_back(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        slack.down()
        chat = await web_complaint(staff)
        await staff.dispatch()
        await chat.say("Any news?")  # a customer message while the escalation is still waiting
        await staff.dispatch()
        assert slack.posts() == [] and slack.calls("chat.postMessage")  # tried, refused (503)
        waiting = await pending_notices(staff)
        assert sorted(row.payload["kind"] for row in waiting) == ["customer_message", "opened"]
        assert all(row.last_error for row in waiting)
        assert (await staff.ticket()).desk_thread is None

        slack.up()
        for _ in range(4):  # the retries come due; running the outbox again changes nothing
            clock.advance(seconds=30)
            await staff.dispatch()
        root = staff.root()
        assert len(slack.dms_to(ANA)) == 1
        assert staff.thread(root) == [":speech_balloon: *Joana Reis* wrote:\n>Any news?"]  # after the post, in order
        ticket = await staff.ticket()
        assert (ticket.desk_channel, ticket.desk_thread) == (SUPPORT, root["ts"])
        assert await pending_notices(staff) == []


async def test_a_rate_limit_waits_for_retry_after_and_a_half_done_notice_is_not_posted_twice(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        slack.fail_next("chat.postMessage", 429, retry_after=40)
        await web_complaint(staff)
        await staff.dispatch()
        (waiting,) = await pending_notices(staff)
        assert waiting.due_at.replace(tzinfo=None) == (clock.now() + timedelta(seconds=40)).replace(tzinfo=None)
        clock.advance(seconds=30)
        await staff.dispatch()
        assert slack.posts() == []  # not before Slack said

        # The escalation post succeeds and the DM to Ana fails: the retry sends only the DM.
        slack.fail_next("chat.postMessage", 500, channel=ANA)
        clock.advance(seconds=11)
        await staff.dispatch()
        assert len(staff.roots()) == 1 and slack.dms_to(ANA) == []
        clock.advance(seconds=60)
        await staff.dispatch()
        assert len(staff.roots()) == 1 and len(slack.dms_to(ANA)) == 1
        assert await pending_notices(staff) == []


# ---- SLA clocks ---------------------------------------------------------------------------------------------------


async def test_sla_reminder_and_breach_are_each_posted_once(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)  # normal severity: first response due in 8 hours
        await staff.dispatch()
        root = staff.root()

        clock.advance(hours=7, minutes=40)
        for _ in range(3):
            await staff.core.watch_sla()
            await staff.dispatch()
        assert staff.thread(root) == [
            f":alarm_clock: <@{ANA}>, reminder: the first response is due Mon 02 Mar 17:00 UTC."
        ]

        clock.advance(minutes=21)
        for _ in range(3):
            await staff.core.watch_sla()
            await staff.dispatch()
        thread = staff.thread(root)
        assert len(thread) == 2
        assert thread[1] == (f":rotating_light: <!here> SLA breached: the first response was due Mon 02 Mar 17:00 UTC. "
                             f"Assigned to <@{ANA}>. <@{RUI}>, please step in.")  # fmt: skip
        (breach,) = [p for p in slack.posts(SUPPORT) if p["text"] == thread[1]]
        assert breach["params"]["reply_broadcast"] is True  # shown in the channel too
        assert "SLA breached" in str(staff.shown(root)["blocks"])


# ---- signatures and repeated deliveries ---------------------------------------------------------------------------


async def test_forged_or_stale_requests_are_refused_and_change_nothing(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        root = staff.root()
        before = await staff.events()

        body = message_event(SUPPORT, ANA, "Forged reply", thread_ts=root["ts"])
        forged = await staff.send(body, forge=True)
        stale = await staff.send(body, timestamp=int(time.time()) - 6 * 60)
        click = await staff.send(_claim_body(staff, root), forge=True)

        assert (forged.status_code, stale.status_code, click.status_code) == (401, 401, 401)
        checked = await staff.send(url_verification("challenge-1"))  # Slack checking the request URL
        assert checked.status_code == 200 and checked.json() == {"challenge": "challenge-1"}
        await asyncio.sleep(0.2)
        await staff.dispatch()
        assert await staff.events() == before and staff.thread(root) == []
        assert (await staff.ticket()).status == "assigned"


def _claim_body(staff: StaffSide, root: dict) -> tuple[str, str]:
    return block_action(ANA, "ticket_claim", "C-1001", SUPPORT, root["ts"], message=staff.shown(root))


async def test_a_thread_reply_delivered_again_reaches_the_customer_once(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, telegram: BotApiStandIn,
    clock: FixedClock,
) -> None:  # fmt: skip
    settings = slack_settings(tmp_path, sqlite_url, flows_dir, slack, telegram=telegram)
    app = build_app(settings, clock=clock, background=False)
    joana = TgUser(telegram, 42, first_name="Joana")
    async with running(app, slack, telegram) as staff:
        await joana.say("hi", 2)
        await joana.say("cancel", 1)
        await joana.say("/complain", 2)
        await joana.say("The parcel never arrived", 1)
        await joana.press("Order & delivery", 1)
        await joana.press("Skip", 1)
        await joana.press("Quite a lot", 1)
        await staff.dispatch()
        root = staff.root()
        seen = len(joana.messages())

        # Slack retries an event it thinks we missed: the same event id, with X-Slack-Retry-Num.
        body = message_event(SUPPORT, ANA, "On it!", thread_ts=root["ts"], event_id="Ev0000REPLY")
        first = await staff.send(body)
        again = await staff.send(body, retry_num=1, retry_reason="http_timeout")
        later = await staff.send(body, retry_num=2, retry_reason="http_error")
        # The same message under another event id (a second subscription, a replay) is recognised by its ts.
        event = message_event(SUPPORT, ANA, "On it!", ts=_ts_of(body), thread_ts=root["ts"], event_id="Ev0000OTHER")
        other = await staff.send(event)
        assert [r.status_code for r in (first, again, later, other)] == [200, 200, 200, 200]

        assert await joana.expect(seen, 1) == ["Ana Lima: On it!"]
        await asyncio.sleep(0.3)
        await staff.dispatch()
        assert joana.messages()[seen:] == ["Ana Lima: On it!"]
        assert [kind for kind, _, _ in await staff.events()].count("staff_reply") == 1


def _ts_of(body: tuple[str, str]) -> str:
    return str(json.loads(body[0])["event"]["ts"])


async def test_requests_are_acked_at_once_even_when_the_work_is_slow(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        root = staff.root()
        slack.delay_next("views.open", 2)  # Slack is slow to open the form: the click is acked regardless
        started = time.monotonic()
        answer = await staff.press(ANA, "ticket_resolve", root)
        assert answer.status_code == 200 and time.monotonic() - started < 1.0
        await eventually(lambda: slack.views_opened, timeout=6)


async def test_an_event_that_arrives_while_slack_is_unreachable_is_refused_so_slack_delivers_it_again(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        await web_complaint(staff)
        await staff.dispatch()
        root = staff.root()
        body = message_event(SUPPORT, ANA, "Checking with the courier", thread_ts=root["ts"], event_id="Ev0000DOWN")

        slack.down()  # the bot cannot ask Slack who it is (auth.test): answering 200 would lose the message
        assert (await staff.send(body)).status_code == 500
        slack.up()
        assert (await staff.send(body, retry_num=1, retry_reason="http_error")).status_code == 200
        await eventually(lambda: _has_reply(staff))
        assert [kind for kind, _, _ in await staff.events()].count("staff_reply") == 1


async def _has_reply(staff: StaffSide) -> bool:
    return ("staff_reply", "ana", "Checking with the courier") in await staff.events()
