"""What staff read in Slack, as data: the escalation message, the Resolve form, each thread notice, and the text
conversions both ways. Pure functions: no network, no database."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from bot.tickets.models import TicketStatus
from bot.tickets.staffdesk import NoticeDetails, StaffNotice, StaffNoticeKind
from bot.tickets.views import Attachment, Deadline, Person, TicketCustomer, TicketView
from handlers.slack.blocks import (
    ACTIONS_BLOCK,
    CLAIM,
    REASSIGN,
    RESOLVE,
    RESOLVE_VIEW,
    assignee_dm,
    help_text,
    mine_text,
    resolve_modal,
    ticket_message,
    ticket_summary,
)
from handlers.slack.commands import parse
from handlers.slack.dedupe import Seen
from handlers.slack.mrkdwn import escape, to_plain
from handlers.slack.notices import thread_text
from handlers.slack.relay import is_thread_reply

ANA = Person(key="ana", name="Ana Lima", slack_user_id="U0ANA")
RUI = Person(key="rui", name="Rui Costa", slack_user_id="U0RUI")
STAFF = [("ana", "Ana Lima"), ("rui", "Rui Costa")]
VIEW = TicketView(
    id=1, ref="C-1042", kind="complaint", status=TicketStatus.ASSIGNED, category="delivery", severity="high",
    summary="Parcel never arrived", description="Order 1234 <never> arrived & no word", channel="telegram",
    attachments=(),
    customer=TicketCustomer(id=7, name="Joana Reis", tier="core", language="pt", channels=("telegram",)),
    assignee=ANA, backup=RUI,
    first_response_due=Deadline(iso="2026-03-02T11:00:00+00:00", text="Mon 02 Mar 11:00 UTC"),
    resolution_due=Deadline(iso="2026-03-03T09:00:00+00:00", text="Tue 03 Mar 09:00 UTC"),
    first_responded=False, sla_breached=False, resolution="", compensation="", csat_score=None, reopened_count=0,
    desk_channel="C0SUPPORT", desk_thread=None, recent_messages=("hi", "my parcel never arrived <!channel>"),
)  # fmt: skip


def ticket(**changes: Any) -> TicketView:
    """A ticket view as bot.tickets.desk.ticket_view builds it."""
    return replace(VIEW, **changes)


def by_type(blocks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == kind]


# ---- the escalation message ---------------------------------------------------------------------------------------


def test_the_escalation_message_shows_the_complaint_and_who_has_it() -> None:
    text, blocks = ticket_message(ticket(), STAFF)

    assert text == "Complaint C-1042: Parcel never arrived (for <@U0ANA>)"
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Complaint C-1042: Parcel never "
                                                    "arrived", "emoji": True}}  # fmt: skip
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Customer*\nJoana Reis (telegram)",
        "*Tier*\ncore",
        "*Category*\ndelivery",
        "*Severity*\nhigh",
        "*Assignee*\n<@U0ANA>",
        "*First response due*\nMon 02 Mar 11:00 UTC",
        "*Resolution due*\nTue 03 Mar 09:00 UTC",
    ]
    sections = [b["text"]["text"] for b in by_type(blocks, "section") if "text" in b]
    # What the customer wrote is escaped: it cannot ping the channel or fake a link.
    assert sections == [
        "*Description*\nOrder 1234 &lt;never&gt; arrived &amp; no word",
        "*Last messages*\n>hi\n>my parcel never arrived &lt;!channel&gt;",
    ]
    assert by_type(blocks, "context")[-1]["elements"][0]["text"] == "*Assigned* · with <@U0ANA>"


def test_the_buttons_claim_reassign_to_directory_people_and_resolve() -> None:
    _, blocks = ticket_message(ticket(), STAFF)

    (actions,) = by_type(blocks, "actions")
    assert actions["block_id"] == ACTIONS_BLOCK
    claim, reassign, resolve = actions["elements"]
    assert (claim["action_id"], claim["value"], claim["style"]) == (CLAIM, "C-1042", "primary")
    assert reassign["action_id"] == REASSIGN and reassign["type"] == "static_select"
    assert [(o["text"]["text"], o["value"]) for o in reassign["options"]] == [("Ana Lima", "C-1042:ana"),
                                                                            ("Rui Costa", "C-1042:rui")]  # fmt: skip
    assert (resolve["action_id"], resolve["value"]) == (RESOLVE, "C-1042")
    _, without_staff = ticket_message(ticket(), [])
    assert [e["action_id"] for e in by_type(without_staff, "actions")[0]["elements"]] == [CLAIM, RESOLVE]


@pytest.mark.parametrize(
    ("changes", "status", "buttons"),
    [
        ({"status": TicketStatus.CLAIMED}, "*Claimed* · with <@U0ANA>", True),
        ({"status": TicketStatus.REOPENED, "sla_breached": True},
         "*Reopened* · with <@U0ANA> · :rotating_light: SLA breached", True),
        ({"status": TicketStatus.RESOLVED, "resolution": "Refunded"},
         "*Resolved, waiting for the customer's answer* · with <@U0ANA>", False),
        ({"status": TicketStatus.CLOSED, "csat_score": 5}, "*Closed* · with <@U0ANA> · CSAT 5/5", False),
        ({"status": TicketStatus.OPEN, "assignee": None}, "*Open, nobody assigned*", True),
    ],
)  # fmt: skip
def test_the_status_line_and_buttons_follow_the_ticket(changes: dict[str, Any], status: str, buttons: bool) -> None:
    _, blocks = ticket_message(ticket(**changes), STAFF)

    assert by_type(blocks, "context")[-1]["elements"][0]["text"] == status
    assert bool(by_type(blocks, "actions")) is buttons


def test_attachments_resolution_and_a_staff_member_without_slack() -> None:
    view = ticket(attachments=(Attachment("photo", "AgAD-photo"),), status=TicketStatus.RESOLVED,
                  resolution="Sent again", compensation="10% off", assignee=Person("olga", "Olga"))  # fmt: skip
    text, blocks = ticket_message(view, STAFF)

    shown = json.dumps(blocks)
    assert ":paperclip: photo: file id `AgAD-photo`" in shown
    assert "*Resolution:* Sent again\\n*Compensation:* 10% off" in shown
    assert "*Assignee*\\nOlga" in shown and text.endswith("(for Olga)")


def test_long_texts_stay_within_slacks_limits() -> None:
    _, blocks = ticket_message(ticket(summary="x" * 400, description="y" * 9000, recent_messages=("z" * 4000,)), STAFF)

    assert len(blocks[0]["text"]["text"]) <= 150
    assert all(len(b["text"]["text"]) <= 3000 for b in by_type(blocks, "section") if "text" in b)


# ---- the Resolve form, DMs and /engage ----------------------------------------------------------------------------


def test_the_resolve_form_asks_for_a_summary_and_optional_compensation() -> None:
    view = resolve_modal("C-1042", {"channel": "C0SUPPORT"})

    assert view["callback_id"] == RESOLVE_VIEW and view["title"]["text"] == "Resolve C-1042"
    assert json.loads(view["private_metadata"]) == {"ref": "C-1042", "channel": "C0SUPPORT"}
    resolution, compensation = view["blocks"]
    assert resolution["block_id"] == "resolution" and "optional" not in resolution
    assert resolution["element"]["multiline"] is True
    assert compensation["block_id"] == "compensation" and compensation["optional"] is True
    assert len(resolve_modal("CUSTOMER-REF-123456789", {})["title"]["text"]) <= 24


def test_the_assignee_dm_links_to_the_thread() -> None:
    text = assignee_dm(ticket(), "https://x.slack.com/archives/C0SUPPORT/p1")
    assert text.startswith("You have a new ticket: *Complaint C-1042: Parcel never arrived*\nFrom Joana Reis (core)")
    assert "<https://x.slack.com/archives/C0SUPPORT/p1|Open the thread>" in text
    assert "See the escalation channel" in assignee_dm(ticket(), None)


def test_engage_texts() -> None:
    assert mine_text([]) == "You have no open tickets."
    assert mine_text([ticket()]) == ("Your open tickets (1):\n• *C-1042* Parcel never arrived (Assigned, first "
                                     "response due Mon 02 Mar 11:00 UTC)")  # fmt: skip
    assert ticket_summary(ticket()).splitlines()[:2] == ["*Complaint C-1042: Parcel never arrived*",
                                                         "*Assigned* · with <@U0ANA>"]  # fmt: skip
    assert help_text("/desk").startswith("`/desk mine`")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("mine", ("mine", "")), ("  MINE ", ("mine", "")), ("ticket c-1042", ("ticket", "C-1042")),
     ("ticket", ("help", "")), ("", ("help", "")), ("help", ("help", "")), ("close everything", ("help", ""))],
)  # fmt: skip
def test_engage_subcommands(text: str, parsed: tuple[str, str]) -> None:
    assert parse(text) == parsed


# ---- thread notices -----------------------------------------------------------------------------------------------


def notice(kind: str, text: str = "", actor: str = "", **details: Any) -> StaffNotice:
    return StaffNotice(kind=StaffNoticeKind(kind), ticket=ticket(desk_thread="1700000000.000100"), text=text,
                       actor=actor, details=NoticeDetails(**details))  # fmt: skip


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (notice("claimed", actor="Ana Lima"), ":raised_hand: <@U0ANA> claimed this ticket."),
        (notice("reassigned", "Ana Lima", actor="Rui Costa"),
         ":arrow_right_hook: Rui Costa reassigned this ticket to <@U0ANA>."),
        (notice("customer_message", "It's <b>still</b> missing\nplease help"),
         ":speech_balloon: *Joana Reis* wrote:\n>It's &lt;b&gt;still&lt;/b&gt; missing\n>please help"),
        (notice("note", "called the courier", actor="Ana Lima"),
         ":memo: Internal note by Ana Lima:\n>called the courier"),
        (notice("csat", score=4, solved=True), ":star::star::star::star: Joana Reis says it is solved: CSAT *4/5*."),
        (notice("reopened", solved=False, score=1),
         ":repeat: Joana Reis says the problem is not solved (CSAT 1/5). The ticket is reopened for <@U0ANA>. "
         "<@U0RUI>, you are the backup: please keep an eye on it."),
        (notice("sla_reminder", clock="resolution"),
         ":alarm_clock: <@U0ANA>, reminder: the resolution is due Tue 03 Mar 09:00 UTC."),
        (notice("sla_breach", clock="first_response"),
         ":rotating_light: <!here> SLA breached: the first response was due Mon 02 Mar 11:00 UTC. Assigned to "
         "<@U0ANA>. <@U0RUI>, please step in."),
        (notice("opened"), None),  # the escalation message itself (ticket_message), never a thread post
    ],
)  # fmt: skip
def test_each_notice_says_what_happened_and_mentions_who_must_act(given: StaffNotice, says: str | None) -> None:
    assert thread_text(given) == says


def test_a_photo_from_the_customer_shows_its_file_id() -> None:
    photos = (Attachment("photo", "AgAD-1"), Attachment("photo", "AgAD-2"))
    given = StaffNotice(kind=StaffNoticeKind.CUSTOMER_MESSAGE, text="(photo attached) the box",
                        ticket=ticket(attachments=photos))  # fmt: skip
    assert thread_text(given) == (
        ":speech_balloon: *Joana Reis* wrote:\n>(photo attached) the box\n:paperclip: photo file id `AgAD-2`"
    )


def test_resolved_shows_the_compensation() -> None:
    given = StaffNotice(kind=StaffNoticeKind.RESOLVED, text="Sent a new one", actor="Ana Lima",
                        ticket=ticket(status=TicketStatus.RESOLVED, compensation="Free delivery"))  # fmt: skip
    assert thread_text(given) == (":white_check_mark: Resolved by Ana Lima: Sent a new one\nCompensation offered: "
                                  "Free delivery\nThe customer is asked whether the problem is solved, and for a "
                                  "rating.")  # fmt: skip


# ---- text both ways, thread messages, repeats ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        ("Hi &lt;3 &amp; thanks", "Hi <3 & thanks"),
        ("ask <@U0RUI> or <@U0XYZ|maria>", "ask @Rui Costa or @maria"),
        ("see <https://example.com/track?id=1|tracking> or <https://example.com>",
         "see tracking (https://example.com/track?id=1) or https://example.com"),
        ("write to <mailto:help@example.com|help@example.com>", "write to help@example.com"),
        ("<!here> and <#C0SUPPORT|support>", "@here and #support"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
    ],
)  # fmt: skip
def test_staff_mrkdwn_becomes_plain_text_for_the_customer(slack: str, plain: str) -> None:
    assert to_plain(slack, {"U0RUI": "Rui Costa"}.get) == plain


def test_customer_text_is_escaped_for_slack() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


@pytest.mark.parametrize(
    ("event", "relayed"),
    [
        ({"user": "U1", "text": "hi", "ts": "2.0", "thread_ts": "1.0"}, True),
        ({"user": "U1", "text": "hi", "ts": "2.0", "thread_ts": "1.0", "subtype": "thread_broadcast"}, True),
        ({"user": "U1", "text": "hi", "ts": "1.0", "thread_ts": "1.0"}, False),  # the thread's first message
        ({"user": "U1", "text": "hi", "ts": "2.0"}, False),  # not in a thread
        ({"user": "U1", "text": "hi", "ts": "2.0", "thread_ts": "1.0", "subtype": "message_changed"}, False),
        ({"user": "U1", "text": "hi", "ts": "2.0", "thread_ts": "1.0", "bot_id": "B1"}, False),
        ({"text": "hi", "ts": "2.0", "thread_ts": "1.0", "subtype": "bot_message"}, False),
        ({"user": "U1", "text": "  ", "ts": "2.0", "thread_ts": "1.0"}, False),
    ],
)  # fmt: skip
def test_which_slack_messages_are_staff_writing_in_a_thread(event: dict[str, Any], relayed: bool) -> None:
    assert is_thread_reply(event) is relayed


def test_seen_remembers_a_bounded_number_of_keys() -> None:
    seen = Seen(size=2)
    # "a" seen again is kept fresh; "c" then pushes out the oldest, "b", which counts as new afterwards.
    assert [seen.first_time(k) for k in ("a", "b", "a", "c", "a", "b")] == [True, True, False, True, False, True]
