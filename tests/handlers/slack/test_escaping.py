"""Whatever a customer writes reaches Slack as text, never as a ping or a link: `<!channel>`, `<!here>`,
`<!everyone>`, `<@U…>`, `<#C…>`, links, `&`, `<` and `>` in every field a customer controls, in every message the bot
posts (the blocks and the fallback `text`), through one helper (handlers/slack/mrkdwn.escape). Table-driven over the
renderers, then end to end: a complaint typed in the web chat, as Slack receives it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.tickets.staffdesk import NoticeDetails, StaffNotice, StaffNoticeKind
from bot.tickets.views import Attachment, TicketCustomer, TicketView
from handlers.server import build_app
from handlers.slack.blocks import assignee_dm, mine_text, reassigned_dm, ticket_message, ticket_summary
from handlers.slack.notices import thread_text
from tests.conftest import Chat, FixedClock
from tests.handlers.slack.harness import SUPPORT, mrkdwn_texts, running, slack_settings
from tests.handlers.slack.test_blocks import STAFF, ticket
from tests.support.slack_standin import SlackApiStandIn

HOSTILE = [
    "<!channel>", "<!here>", "<!everyone>", "<@U0BOSS>", "<#C0ALL>", "<!subteam^S0TEAM>",
    "<https://evil.example|your refund>", "<!date^1392734382^{date}|x>", "a < b > c & d", "&lt;!channel&gt;",
]  # fmt: skip
OURS = re.compile(r"^<(@U0ANA|@U0RUI|https://slack\.example/p1\|Open the thread)>$")  # what the bot itself writes
SPECIAL = re.compile(r"<[^<>]*>")
LINK = "https://slack.example/p1"


def hostile_ticket(words: str) -> TicketView:
    """A ticket view whose every customer-controlled field carries `words`."""
    return ticket(
        summary=f"Refund {words}", description=f"Please {words} help", category=f"cat {words}",
        customer=TicketCustomer(id=7, name=f"Jo {words}", tier=f"core {words}", language="pt",
                                channels=(f"web {words}",)),
        recent_messages=(f"hi {words}", words), attachments=(Attachment(f"photo {words}", f"file {words}"),),
        resolution=f"Sent {words}", compensation=f"Voucher {words}", severity=f"high {words}",
    )  # fmt: skip


def renderings(words: str) -> list[tuple[str, str]]:
    """(what, mrkdwn text) for every message the bot posts about this ticket."""
    view = hostile_ticket(words)
    text, blocks = ticket_message(view, STAFF)
    shown = [("escalation text", text), *(("escalation blocks", t) for t in mrkdwn_texts(blocks))]
    shown += [("assignee DM", assignee_dm(view, LINK)), ("reassigned DM", reassigned_dm(view, words, LINK)),
              ("/engage ticket", ticket_summary(view)), ("/engage mine", mine_text([view]))]  # fmt: skip
    for kind in ("claimed", "reassigned", "customer_message", "staff_reply", "note", "resolved", "csat", "reopened",
                 "sla_reminder", "shown", "moved"):  # fmt: skip
        notice = StaffNotice(kind=StaffNoticeKind(kind), ticket=view, text=f"({words} attached) {words}",
                             actor=f"Ana {words}",
                             details=NoticeDetails(score=2, solved=False, clock="first_response"))  # fmt: skip
        shown.append((f"thread: {kind}", thread_text(notice) or ""))
    return shown


@pytest.mark.parametrize("words", HOSTILE)
def test_customer_words_never_ping_or_link_in_any_message(words: str) -> None:
    for what, text in renderings(words):
        leaked = [s for s in SPECIAL.findall(text) if not OURS.match(s)]
        assert not leaked, f"{what}: {leaked} in {text!r}"


def test_escaped_words_still_read_as_the_customer_wrote_them() -> None:
    text, _blocks = ticket_message(hostile_ticket("a < b > c & d"), STAFF)
    assert "Refund a &lt; b &gt; c &amp; d" in text  # Slack shows it as "a < b > c & d"


async def test_a_complaint_with_broadcasts_reaches_slack_escaped_in_text_and_blocks(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock
) -> None:
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        chat = Chat(staff.core, address="visitor-1", name="Jo <!everyone>")
        for line in ("hi", "cancel", "/complain", "<!channel> <@U0BOSS> my parcel <#C0ALL> & more"):
            await chat.say(line)
        await chat.press("Order & delivery")
        await chat.press("Skip")
        await chat.press("Quite a lot")
        await chat.say("<!here> still waiting")
        await staff.dispatch()
        posts = slack.posts()
        assert len(posts) == 3  # the escalation, the assignee's DM, the customer's message in the thread
        for post in posts:
            for text in [post["text"], *mrkdwn_texts(post["blocks"] or [])]:
                leaked = [s for s in SPECIAL.findall(text or "") if not OURS.match(s) and "slack.com/archives" not in s]
                assert not leaked, (post["channel"], text)
        root = staff.root(SUPPORT)
        assert "&lt;!channel&gt; &lt;@U0BOSS&gt; my parcel &lt;#C0ALL&gt; &amp; more" in root["text"]
