"""A complaint from the customer's first words in Telegram to its end in Slack: the escalation post and the
assignee's DM, Claim, replies in the thread that reach the customer by name, internal notes, the customer's answer in
the thread, the Resolve form, and the customer's verdict (solved and rated, or not solved and reopened). The whole
app (build_app) against the Telegram and Slack stand-ins over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from bot.tickets.models import TicketStatus
from handlers.server import build_app
from tests.conftest import FixedClock
from tests.handlers.slack.harness import ANA, RUI, SUPPORT, StaffSide, eventually, running, slack_settings
from tests.handlers.telegram.harness import TgUser
from tests.support.botapi_standin import BotApiStandIn
from tests.support.slack_standin import SlackApiStandIn

SOLVED_Q = "Is your problem solved?"
RATING_Q = "How satisfied are you with how Ana Lima handled it?"


async def complain_and_claim(staff: StaffSide, joana: TgUser) -> dict:
    """Joana's first words are a complaint; the ticket reaches Ana in Slack, who claims it. Returns the post."""
    first = await joana.say("I want to complain", 2)
    # One sentence of welcome opens the answer (the welcome questions come later).
    welcome, _, answer = first[0].partition("\n\n")
    assert welcome == "Hi Joana, welcome to our service."
    assert answer.startswith("I'm sorry something has gone wrong, Joana.") and first[1].startswith("What happened?")
    await joana.say("My parcel (order 1234) never arrived", 1)
    await joana.press("Order & delivery", 1)
    await joana.press("Skip", 1)
    logged = await joana.press("Quite a lot", 1)
    assert logged[0].startswith("Thank you for telling us. Your reference is C-1001.\nIt's with Ana Lima")

    await staff.dispatch()
    root = staff.root()
    assert "C-1001" in root["text"] and f"<@{ANA}>" in root["text"]
    fields = " ".join(f["text"] for f in root["blocks"][1]["fields"])
    assert "*Customer*\nJoana (telegram)" in fields and "*Tier*\nstandard" in fields
    assert "*Category*\ndelivery" in fields and "*Severity*\nnormal" in fields and f"<@{ANA}>" in fields
    assert "*First response due*\nMon 02 Mar 17:00 UTC" in fields
    shown = str(root["blocks"])
    assert "My parcel (order 1234) never arrived" in shown and ">I want to complain" in shown  # the last messages
    assert ">Order &amp; delivery" in shown and ">Quite a lot" in shown  # pressed buttons show their labels
    (dm,) = staff.api.dms_to(ANA)
    assert "C-1001" in dm["text"] and "archives/C0SUPPORT/p" in dm["text"]  # a link to the thread

    assert (await staff.claim(ANA, root)).status_code == 200
    assert await staff.wait_thread(root, 1) == [f":raised_hand: <@{ANA}> claimed this ticket."]
    await eventually(lambda: staff.api.updates(SUPPORT, root["ts"]))
    assert "*Claimed* · with <@U0ANA>" in str(staff.shown(root)["blocks"])
    return root


async def test_a_complaint_is_followed_up_in_slack_to_a_rated_close(
    tmp_path: Path, database_url: str, flows_dir: Path, slack: SlackApiStandIn, telegram: BotApiStandIn,
    clock: FixedClock,
) -> None:  # fmt: skip
    settings = slack_settings(tmp_path, database_url, flows_dir, slack, telegram=telegram)
    app = build_app(settings, clock=clock, background=False)
    joana = TgUser(telegram, 42, first_name="Joana")
    async with running(app, slack, telegram) as staff:
        root = await complain_and_claim(staff, joana)

        # Ana answers in the thread: Joana reads it in Telegram, by name.
        seen = len(joana.messages())
        await staff.write(ANA, "So sorry, Joana! I have asked the courier &amp; will update you today.", root)
        assert await joana.expect(seen, 1) == ["Ana Lima: So sorry, Joana! I have asked the courier & will update "
                                               "you today."]  # fmt: skip
        # A note stays in Slack and the ticket's timeline.
        await staff.write(ANA, "note: courier says it is in the depot", root)
        await eventually(lambda: _has_event(staff, "note"))
        # Joana answers in Telegram: her words land in the thread.
        await joana.say("Thank you, I'll wait", 1)
        await staff.dispatch()
        assert staff.thread(root)[-1] == ":speech_balloon: *Joana* wrote:\n>Thank you, I'll wait"
        assert len(joana.messages()) == seen + 2  # the reply and the bot's acknowledgement; the note never

        # Ana resolves it through the form; Joana hears how, and is asked if it is solved.
        view = await staff.open_resolve(ANA, root)
        answer = await staff.submit_resolve(ANA, view, "The courier delivered it this morning.", "A 10% voucher")
        assert answer.status_code == 200 and answer.text == ""  # acked at once; resolving follows
        await eventually(lambda: SOLVED_Q in joana.messages()[seen + 2 :])
        await staff.dispatch()
        told = joana.messages()[seen + 2 :]
        assert told[0].startswith("Good news, Joana: Ana Lima has resolved your request C-1001.")
        assert "The courier delivered it this morning." in told[0] and "A 10% voucher" in told[0]
        assert told[-1] == SOLVED_Q
        assert staff.thread(root)[-1].startswith(":white_check_mark: Resolved by Ana Lima: The courier delivered")

        # Solved, and rated 5: the score is in the thread and the ticket is closed.
        assert await joana.press("Yes", 1) == [RATING_Q]
        assert (await joana.press("5", 1))[0].startswith("Thank you")
        await staff.dispatch()
        assert staff.thread(root)[-1] == (":star::star::star::star::star: Joana says it is solved: CSAT *5/5*. "
                                          "The ticket is closed.")  # fmt: skip
        ticket = await staff.ticket()
        assert ticket.status == TicketStatus.CLOSED and ticket.csat_score == 5
        assert "Closed" in str(staff.shown(root)["blocks"]) and "ticket_claim" not in str(staff.shown(root)["blocks"])

    kinds = [kind for kind, _, _ in await staff.events()]
    assert kinds[:3] == ["opened", "assigned", "claimed"] and "staff_reply" in kinds and "note" in kinds
    assert kinds[-2:] == ["resolved", "closed"]
    assert len(staff.roots()) == 1 and len(staff.api.dms_to(ANA)) == 1  # each posted once


async def test_not_solved_reopens_the_ticket_for_the_same_person_and_alerts_the_backup(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, telegram: BotApiStandIn,
    clock: FixedClock,
) -> None:  # fmt: skip
    settings = slack_settings(tmp_path, sqlite_url, flows_dir, slack, telegram=telegram)
    app = build_app(settings, clock=clock, background=False)
    joana = TgUser(telegram, 42, first_name="Joana")
    async with running(app, slack, telegram) as staff:
        root = await complain_and_claim(staff, joana)
        view = await staff.open_resolve(ANA, root)
        await staff.submit_resolve(ANA, view, "We sent a new one.")
        await staff.dispatch()
        await eventually(lambda: SOLVED_Q in joana.messages())

        assert await joana.press("No", 1) == [RATING_Q]
        reopened = await joana.press("2", 1)
        assert "reopened C-1001" in reopened[0]
        await staff.dispatch()
        thread = staff.thread(root)
        assert thread[-2] == ":star::star: Joana says it is *not* solved: CSAT *2/5*."
        assert thread[-1] == (
            f":repeat: Joana says the problem is not solved (CSAT 2/5). The ticket is reopened for <@{ANA}>. "
            f"<@{RUI}>, you are the backup: please keep an eye on it."
        )
        ticket = await staff.ticket()
        assert ticket.status == TicketStatus.REOPENED and ticket.reopened_count == 1
        blocks = str(staff.shown(root)["blocks"])
        assert "*Reopened* · with <@U0ANA>" in blocks and "ticket_resolve" in blocks  # the buttons are back


async def _has_event(staff: StaffSide, kind: str) -> bool:
    return any(k == kind for k, _, _ in await staff.events())
