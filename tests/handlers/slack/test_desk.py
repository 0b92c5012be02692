"""The StaffDesk port on Slack, against the Web API stand-in: where each notice goes, and what each Slack failure
means for the outbox (retry when, or never), including the places that stand in when a channel is refused."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.ports import DeliveryError
from bot.tickets.models import TicketStatus
from bot.tickets.staffdesk import DeskThread, NoticeDetails, SeverityChange, StaffNotice, StaffNoticeKind
from handlers.slack.desk import PlaceUnavailable, SlackDesk
from tests.handlers.slack.harness import ANA, SUPPORT, TOKEN
from tests.handlers.slack.test_blocks import ticket
from tests.support.slack_standin import SlackApiStandIn, SlackError


def desk_for(api: SlackApiStandIn | str) -> SlackDesk:
    base_url = api if isinstance(api, str) else api.base_url
    return SlackDesk(AsyncWebClient(token=TOKEN, base_url=base_url, timeout=2))


def opened(**changes: Any) -> StaffNotice:
    return StaffNotice(kind=StaffNoticeKind.OPENED, ticket=ticket(**changes))


async def test_opened_posts_in_the_channel_and_dms_the_assignee(slack: SlackApiStandIn) -> None:
    where = await desk_for(slack).notify(opened())

    (post,) = slack.posts(SUPPORT)
    assert where == DeskThread(channel=SUPPORT, thread=post["ts"])
    assert post["blocks"] and post["params"]["unfurl_links"] is False
    assert len(slack.dms_to(ANA)) == 1


@pytest.mark.parametrize(
    ("fault", "retry_after", "permanent"),
    [
        ({"status": 429, "retry_after": 30}, 30.0, False),
        ({"status": 503}, None, False),
        ({"status": 500}, None, False),
        ({"error": "invalid_auth"}, None, False),  # fixed by a new token and a restart: keep the notice
        ({"error": "msg_too_long"}, None, True),
    ],
)
async def test_what_a_failure_means_for_the_outbox(
    slack: SlackApiStandIn, fault: dict[str, Any], retry_after: float | None, permanent: bool
) -> None:
    slack.fail_next("chat.postMessage", **fault)
    in_thread = StaffNotice(kind=StaffNoticeKind.CUSTOMER_MESSAGE, text="hello", ticket=ticket(desk_thread="1.000100"))
    with pytest.raises(DeliveryError) as failed:
        await desk_for(slack).notify(in_thread)
    assert (failed.value.retry_after, failed.value.permanent) == (retry_after, permanent)
    assert slack.posts() == []


async def test_slack_unreachable_is_retried() -> None:
    with pytest.raises(DeliveryError) as failed:
        await desk_for("http://127.0.0.1:9/api/").notify(opened())
    assert not failed.value.permanent and "unreachable" in str(failed.value)


async def test_a_channel_the_bot_is_not_in_falls_back_to_the_assignees_dm(slack: SlackApiStandIn) -> None:
    slack.fail_next("chat.postMessage", error="not_in_channel", channel=SUPPORT)
    where = await desk_for(slack).notify(opened())

    (post,) = slack.dms_to(ANA)  # the escalation itself, no second DM about it
    assert post["blocks"] and where == DeskThread(channel=slack.dm_channel(ANA), thread=post["ts"])

    slack.fail_next("chat.postMessage", error="channel_not_found", channel=SUPPORT)
    with pytest.raises(PlaceUnavailable) as failed:  # nobody to fall back to: retried (the bot may be invited)
        await desk_for(slack).notify(opened(assignee=None))
    assert not failed.value.permanent


async def test_blocks_slack_refuses_fall_back_to_the_text(slack: SlackApiStandIn) -> None:
    slack.fail_next("chat.postMessage", error="invalid_blocks", channel=SUPPORT)
    await desk_for(slack).notify(opened())

    (post,) = slack.posts(SUPPORT)
    assert post["blocks"] is None and post["text"].startswith("Complaint C-1042")


async def test_a_ticket_with_no_place_in_slack_is_logged_not_retried(slack: SlackApiStandIn) -> None:
    assert await desk_for(slack).notify(opened(desk_channel=None, assignee=None)) is None
    later = StaffNotice(kind=StaffNoticeKind.CUSTOMER_MESSAGE, text="hello",
                        ticket=ticket(desk_channel=None, assignee=None))  # fmt: skip
    assert await desk_for(slack).notify(later) is None
    assert slack.requests == []


async def test_a_notice_about_a_ticket_without_a_thread_starts_it(slack: SlackApiStandIn) -> None:
    """Its opening was folded into a summary: the first notice that needs the thread posts the escalation message
    (with its buttons, no second DM), then itself in the thread; a retry after a failure half-way posts neither
    twice. (The core keeps notices about one ticket in order, so none overtakes its own "opened".)"""
    desk = desk_for(slack)
    later = StaffNotice(kind=StaffNoticeKind.CUSTOMER_MESSAGE, text="hello", ticket=ticket(desk_thread=None))
    post, failed = slack._methods["chat.postMessage"], []

    def thread_post_fails_once(params: dict[str, Any]) -> Any:
        if params.get("thread_ts") and not failed:
            failed.append(params)
            raise SlackError("service_unavailable", 503)
        return post(params)

    slack.set_handler("chat.postMessage", thread_post_fails_once)
    with pytest.raises(DeliveryError):
        await desk.notify(later)  # the escalation message went out, its thread post did not
    where = await desk.notify(later)

    root, reply = slack.posts(SUPPORT)
    assert root["blocks"] and not root["thread_ts"] and "C-1042" in root["text"]
    assert where == DeskThread(channel=SUPPORT, thread=root["ts"])
    assert reply["thread_ts"] == root["ts"] and reply["text"].endswith(">hello")
    assert slack.dms_to(ANA) == [] and slack.updates() == []  # posted as it is now: nothing to redraw


async def test_a_redraw_slack_refuses_is_only_logged(slack: SlackApiStandIn) -> None:
    slack.fail_next("chat.update", error="message_not_found")
    claimed = StaffNotice(kind=StaffNoticeKind.CLAIMED, actor="Ana Lima",
                          ticket=ticket(status=TicketStatus.CLAIMED, desk_thread="1.000100"))  # fmt: skip
    await desk_for(slack).notify(claimed)
    assert [p["thread_ts"] for p in slack.posts(SUPPORT)] == ["1.000100"]

    slack.fail_next("chat.update", 503)
    desk = desk_for(slack)
    with pytest.raises(DeliveryError):
        await desk.notify(claimed)
    await desk.notify(claimed)  # the retry redraws; the thread post is not repeated
    assert len(slack.posts(SUPPORT)) == 2 and len(slack.updates(SUPPORT)) == 1


async def test_a_thread_started_late_shows_first_what_the_customer_wrote_meanwhile(slack: SlackApiStandIn) -> None:
    """The customer wrote again while the ticket was only in a summary: whoever opens it reads those lines first,
    escaped like every customer word, then the notice that opened it."""
    shown = StaffNotice(kind=StaffNoticeKind.SHOWN, actor="Ana Lima", details=NoticeDetails(slack_user_id=ANA),
                        ticket=ticket(desk_thread=None),
                        earlier=("Hello? <!here>", "Any news\non my order?"))  # fmt: skip
    await desk_for(slack).notify(shown)

    root, earlier, eyes = slack.posts(SUPPORT)
    assert not root["thread_ts"] and earlier["thread_ts"] == eyes["thread_ts"] == root["ts"]
    assert earlier["text"] == (
        ":speech_balloon: *Joana Reis* wrote while this ticket was only in a summary:\n\n"
        ">Hello? &lt;!here&gt;\n\n>Any news\n>on my order?"
    )
    assert eyes["text"] == f":eyes: <@{ANA}> asked to work on this ticket."


async def test_a_raised_severity_is_said_in_the_thread_and_redraws_the_escalation_message(
    slack: SlackApiStandIn,
) -> None:
    joined = StaffNotice(kind=StaffNoticeKind.CUSTOMER_MESSAGE, text="It is urgent now",
                         ticket=ticket(desk_thread="1.000100"),
                         details=NoticeDetails(severity_raised=SeverityChange("normal", "high")))  # fmt: skip
    await desk_for(slack).notify(joined)

    (post,) = slack.posts(SUPPORT)
    assert post["text"].endswith(">It is urgent now\n:arrow_double_up: Severity raised from normal to *high*: first "
                                 "response due Mon 02 Mar 11:00 UTC, resolution due Tue 03 Mar 09:00 UTC.")  # fmt: skip
    (redrawn,) = slack.updates(SUPPORT)
    assert redrawn["params"]["ts"] == "1.000100" and "*Severity*\\nhigh" in str(redrawn["params"]["blocks"])
