"""A flood in Slack: the summary that stands for many folded notices (what it says, its menu), the DM each assignee
gets about theirs, a retry after Slack failed half-way, and a ticket picked from the menu posted with its buttons and
worked on like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.ports import DeliveryError
from bot.tickets.staffdesk import DigestAssignee, DigestTicket, StaffDigest, StaffNoticeKind
from bot.tickets.views import Person
from handlers.server import build_app
from handlers.slack.desk import SlackDesk
from handlers.slack.digest import OPEN_TICKET, assignee_message, summary_message
from tests.conftest import Chat, FixedClock
from tests.handlers.slack.harness import (
    ANA,
    RUI,
    SUPPORT,
    TOKEN,
    StaffSide,
    eventually,
    mrkdwn_texts,
    running,
    slack_settings,
)
from tests.support.slack_standin import SlackApiStandIn, static_select_action

ANA_VIEW = Person(key="ana", name="Ana Lima", slack_user_id=ANA)
RUI_VIEW = Person(key="rui", name="Rui Costa", slack_user_id=RUI)
SINCE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def entry(n: int, notice: str = "opened", who: Person | None = None, summary: str = "Parcel late") -> DigestTicket:
    return DigestTicket(id=n, ref=f"C-{1000 + n}", summary=summary, severity="normal", status="assigned",
                        channel="web", notice=StaffNoticeKind(notice), clock=None, due=None,
                        assignee=who or ANA_VIEW)  # fmt: skip


def digest(**changes: Any) -> StaffDigest:
    tickets = tuple(entry(n, who=ANA_VIEW if n % 4 else RUI_VIEW) for n in range(3, 15))
    values: dict[str, Any] = {
        "key": "staff_digest:7", "place": SUPPORT, "since": SINCE, "until": SINCE + timedelta(seconds=10),
        "counts": {"opened": 12}, "tickets": tickets, "sources": {"web": 12}, "max_posts": 5, "window_seconds": 60,
        "assignees": {"ana": DigestAssignee(person=ANA_VIEW, counts={"opened": 9}),
                      "rui": DigestAssignee(person=RUI_VIEW, counts={"opened": 3})},
    }  # fmt: skip
    values.update(changes)
    return StaffDigest(**values)


def menu(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    (select,) = actions["elements"]
    assert select["action_id"] == OPEN_TICKET
    return select


def test_the_summary_names_the_tickets_and_who_has_them() -> None:
    text, blocks = summary_message(digest())
    refs = ", ".join(f"C-{1000 + n}" for n in range(3, 15))
    assert text == (f":inbox_tray: *12 new tickets from web chat in the last 10 seconds*: {refs}\n"
                    f"For <@{ANA}> (9), <@{RUI}> (3).")  # fmt: skip
    assert "more than 5 came within a minute" in str(blocks) and "engagebot tickets list --limit 1000" in str(blocks)
    options = menu(blocks)["options"]
    assert [o["value"] for o in options] == [f"C-{1000 + n}" for n in range(3, 15)]
    assert options[0]["text"]["text"] == "C-1003 · Parcel late"


def test_sla_alarms_and_many_sources_and_more_than_are_listed() -> None:
    tickets = tuple(entry(n, "sla_breach") for n in range(1, 101))
    text, blocks = summary_message(digest(tickets=tickets, counts={"sla_breach": 250, "opened": 3},
                                          sources={"web": 2, "telegram": 1}))  # fmt: skip
    assert ":inbox_tray: *3 new tickets from web chat (2), Telegram (1) in the last 10 seconds*: 3 in all" in text
    assert ":rotating_light: <!here> *250 tickets past an SLA deadline*: C-1001, C-1002" in text
    assert text.endswith(", … and 210 more\nFor <@U0ANA> (9), <@U0RUI> (3).")
    assert len(menu(blocks)["options"]) == 100  # Slack's limit for a menu


@pytest.mark.parametrize(("count", "line"), [
    (2, ":speech_balloon: *2 customers wrote again on summarised tickets*: C-1003, C-1004"),
    (1, ":speech_balloon: *1 customer wrote again on a summarised ticket*: C-1003"),
])  # fmt: skip
def test_customers_writing_again_on_summarised_tickets_are_one_line_with_the_same_menu(count: int, line: str) -> None:
    tickets = tuple(entry(n, "customer_message") for n in range(3, 3 + count))
    counts = {"customer_message": count}
    assignees = {"ana": DigestAssignee(person=ANA_VIEW, counts=counts)}
    text, blocks = summary_message(digest(tickets=tickets, counts=counts, sources={}, assignees=assignees))
    assert text == f"{line}\nFor <@{ANA}> ({count})."
    assert [o["value"] for o in menu(blocks)["options"]] == [t.ref for t in tickets]


def test_each_assignee_is_told_about_theirs() -> None:
    text, blocks = assignee_message(digest(), "rui", "https://slack.example/p1")  # type: ignore[misc]
    assert text.startswith("Many tickets came at once, so they are in <https://slack.example/p1|one summary>.")
    assert "*3 new tickets in the last 10 seconds*: C-1004, C-1008, C-1012" in text
    assert [o["value"] for o in menu(blocks)["options"]] == ["C-1004", "C-1008", "C-1012"]
    assert assignee_message(digest(), "nobody", None) is None


def test_customer_words_in_a_summary_are_escaped() -> None:
    hostile = digest(tickets=(entry(3, summary="<!channel> refund <@U0BOSS> & <#C0ALL>"),), counts={"opened": 1},
                     sources={"<!here>": 1})  # fmt: skip
    text, blocks = summary_message(hostile)
    shown = [text, *mrkdwn_texts(blocks)]  # what Slack reads as mrkdwn (plain_text labels ping nobody)
    assert not [t for t in shown if "<!" in t or "<@U0BOSS>" in t or "<#" in t], shown
    assert "&lt;!here&gt;" in text


async def test_the_summary_and_the_dms_are_posted_once_even_when_slack_fails_half_way(slack: SlackApiStandIn) -> None:
    desk = SlackDesk(AsyncWebClient(token=TOKEN, base_url=slack.base_url, timeout=2))
    slack.fail_next("chat.postMessage", 503, channel=RUI)
    with pytest.raises(DeliveryError):
        await desk.digest(digest())
    await desk.digest(digest())

    (summary,) = slack.posts(SUPPORT)
    assert summary["text"].startswith(":inbox_tray: *12 new tickets") and summary["blocks"]
    (to_ana,), (to_rui,) = slack.dms_to(ANA), slack.dms_to(RUI)
    assert "archives/C0SUPPORT/p" in to_ana["text"] and "*9 new tickets" in to_ana["text"]
    assert "*3 new tickets" in to_rui["text"]


async def test_a_ticket_picked_from_the_summary_is_posted_with_its_buttons_and_can_be_claimed(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    settings = slack_settings(tmp_path, sqlite_url, flows_dir, slack,
                              slack={"channels": {"default": SUPPORT}, "fold": {"max_posts": 1}})  # fmt: skip
    app = build_app(settings, clock=clock, background=False)
    async with running(app, slack) as staff:
        for n in range(3):
            await Chat(staff.core, address=f"visitor-{n}", name=f"Visitor {n}").say("talk to a person")
        await staff.dispatch()
        clock.advance(seconds=10)
        await staff.dispatch()
        (first,) = escalations(staff)
        summary = next(p for p in slack.posts(SUPPORT) if p["text"].startswith(":inbox_tray:"))
        picked = menu(summary["blocks"])["options"][-1]["value"]
        assert picked not in first["text"] and (await staff.ticket(picked)).desk_thread is None

        body = static_select_action(RUI, OPEN_TICKET, picked, SUPPORT, summary["ts"], message=summary)
        assert (await staff.send(body)).status_code == 200
        await eventually(lambda: len(escalations(staff)) == 2)
        await staff.dispatch()
        root = escalations(staff)[-1]
        assert picked in root["text"] and "ticket_claim" in str(root["blocks"])
        assert await staff.wait_thread(root, 1) == [f":eyes: <@{RUI}> asked to work on this ticket."]
        assert (await staff.ticket(picked)).desk_thread == root["ts"]

        assert (await staff.claim(RUI, root)).status_code == 200
        await staff.wait_thread(root, 2)
        assert staff.thread(root)[-1] == f":raised_hand: <@{RUI}> claimed this ticket."
        assert (await staff.ticket(picked)).status == "claimed"


def escalations(staff: StaffSide) -> list[dict[str, Any]]:
    """The tickets' own messages in the channel (the summary is not one)."""
    return [p for p in staff.roots() if "ticket_claim" in str(p["blocks"])]
