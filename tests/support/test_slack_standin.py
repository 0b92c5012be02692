"""Proves the Slack stand-in against the real slack-bolt and slack_sdk: Web API calls parsed and answered in Slack's
shape (errors surface as SlackApiError), and signed requests into a bolt app reach its listeners."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.botapi_standin import serve_asgi
from tests.support.slack_standin import (
    BOT_USER_ID,
    SlackApiStandIn,
    block_action,
    message_event,
    post_signed,
    signed_headers,
    slack_api_fixture,  # noqa: F401
    slash_command,
    static_select_action,
    url_verification,
    users_select_action,
    view_submission,
)

SECRET = "stand-in-signing-secret"
TOKEN = "xoxb-stand-in-token"
CHANNEL = "C0DESK"
ANA = "U0ANA"

BUTTONS = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*C-1042* late delivery"}},
    {
        "type": "actions",
        "block_id": "ticket_actions",
        "elements": [
            {"type": "button", "action_id": "claim", "value": "C-1042", "text": {"type": "plain_text", "text": "Claim"}}
        ],
    },
]
COMPLAINT_VIEW = {
    "type": "modal",
    "callback_id": "complaint",
    "private_metadata": "ticket=C-1042",
    "title": {"type": "plain_text", "text": "Complaint"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "What went wrong?"},
            "element": {"type": "plain_text_input", "action_id": "reason_input"},
        }
    ],
}


def new_client(api: SlackApiStandIn, token: str = TOKEN, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=api.base_url, **kwargs)


def new_app(api: SlackApiStandIn) -> AsyncApp:
    """A bolt app the way the product builds one: its own client pointed at the stand-in, signed requests only."""
    return AsyncApp(client=new_client(api), signing_secret=SECRET)


@contextlib.asynccontextmanager
async def serve_bolt(app: AsyncApp) -> AsyncIterator[str]:
    """The app behind bolt's Starlette adapter on 127.0.0.1; yields the URL of its ``/slack/events``."""
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async with serve_asgi(Starlette(routes=[Route("/slack/events", events, methods=["POST"])])) as url:
        yield f"{url}/slack/events"


# ---------------------------------------------------------------- the Web API, called by slack_sdk


async def test_post_message_recorded_parsed_with_incrementing_ts(slack_api: SlackApiStandIn) -> None:
    client = new_client(slack_api)

    first = await client.chat_postMessage(channel=CHANNEL, text="New ticket C-1042", blocks=BUTTONS)
    reply = await client.chat_postMessage(channel=CHANNEL, text="Claimed", thread_ts=first["ts"])

    assert first["ok"] is True and first["channel"] == CHANNEL
    assert first["ts"] == "1700000000.000100" and reply["ts"] == "1700000000.000200"
    assert first["message"]["blocks"] == BUTTONS and first["message"]["bot_id"] == "BBOT"
    post = slack_api.posts(CHANNEL)[0]
    assert post["blocks"] == BUTTONS and post["text"] == "New ticket C-1042" and post["thread_ts"] is None
    assert post["token"] == TOKEN and post["content_type"] == "application/json" and post["status"] == 200
    assert slack_api.last_post()["text"] == "Claimed"
    assert [p["text"] for p in slack_api.thread(CHANNEL, first["ts"])] == ["Claimed"]
    replies = await client.conversations_replies(channel=CHANNEL, ts=first["ts"])
    assert [m["text"] for m in replies["messages"]] == ["New ticket C-1042", "Claimed"]
    assert replies["messages"][0]["reply_count"] == 1
    history = await client.conversations_history(channel=CHANNEL)
    assert [m["ts"] for m in history["messages"]] == [first["ts"]]  # thread replies stay out of history


async def test_form_bodies_and_query_strings_are_read_like_json(slack_api: SlackApiStandIn) -> None:
    client = new_client(slack_api)

    # The form encoding slack_sdk uses with data=: nested arguments travel as JSON strings.
    await client.api_call(
        "chat.postMessage", data={"channel": "#complaints", "text": "123", "blocks": json.dumps(BUTTONS)}
    )
    await client.reactions_add(
        channel="#complaints", timestamp=slack_api.last_post()["ts"], name="eyes"
    )  # query string

    post = slack_api.last_post("#complaints")
    assert post["content_type"] == "application/x-www-form-urlencoded"
    assert post["blocks"] == BUTTONS and post["text"] == "123"  # a numeric text stays a string
    assert post["channel_id"].startswith("C") and slack_api.channels[post["channel_id"]] == "complaints"
    (reaction,) = slack_api.calls("reactions.add")
    assert reaction["http_method"] == "POST" and reaction["name"] == "eyes" and reaction["ok"]
    stored = slack_api.message("#complaints", post["ts"])
    assert stored is not None and stored["reactions"] == [{"name": "eyes", "users": [BOT_USER_ID], "count": 1}]
    with pytest.raises(SlackApiError) as caught:
        await client.reactions_add(channel="#complaints", timestamp=post["ts"], name="eyes")
    assert caught.value.response["error"] == "already_reacted"


async def test_dm_to_user_id_and_conversations_open_share_the_d_channel() -> None:
    async with SlackApiStandIn(
        users={ANA: "Ana Lima", "U0RUI": {"real_name": "Rui Costa", "email": "rui@x.pt"}}
    ) as api:
        client = new_client(api)

        direct = await client.chat_postMessage(channel=ANA, text="Hi Ana")
        opened = await client.conversations_open(users=ANA)
        via_d = await client.chat_postMessage(channel=opened["channel"]["id"], text="Still there?")
        info = await client.users_info(user=ANA)
        by_email = await client.users_lookupByEmail(email="RUI@x.pt")

        assert direct["channel"] == opened["channel"]["id"] == via_d["channel"] == api.dm_channel(ANA)
        assert direct["channel"].startswith("D") and opened["already_open"] is True
        assert [p["text"] for p in api.dms_to(ANA)] == ["Hi Ana", "Still there?"]
        assert info["user"]["real_name"] == "Ana Lima" and info["user"]["name"] == "ana"
        assert by_email["user"]["id"] == "U0RUI"
        with pytest.raises(SlackApiError) as caught:
            await client.users_info(user="U0NOBODY")
        assert caught.value.response.status_code == 200 and caught.value.response["error"] == "user_not_found"


async def test_views_open_update_and_hash_conflict(slack_api: SlackApiStandIn) -> None:
    client = new_client(slack_api)

    opened = await client.views_open(trigger_id="t1", view=COMPLAINT_VIEW)
    view = opened["view"]
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view={**COMPLAINT_VIEW, "blocks": []})

    assert view["id"].startswith("V") and view["callback_id"] == "complaint" and view["state"] == {"values": {}}
    assert slack_api.views_opened == [view] and slack_api.views_opened[0]["blocks"] == COMPLAINT_VIEW["blocks"]
    assert updated["view"]["id"] == view["id"] and slack_api.views[view["id"]]["blocks"] == []
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=view["id"], hash=view["hash"], view=COMPLAINT_VIEW)
    with pytest.raises(SlackApiError) as no_trigger:
        await client.api_call("views.open", json={"view": COMPLAINT_VIEW})
    assert stale.value.response["error"] == "hash_conflict"
    assert no_trigger.value.response["error"] == "invalid_arguments"


async def test_logical_errors_have_slacks_shape() -> None:
    async with SlackApiStandIn(channels={CHANNEL: "desk"}, strict_channels=True, tokens=[TOKEN]) as api:
        client = new_client(api)

        await client.chat_postMessage(channel="#desk", text="known by name")
        errors: dict[str, str] = {}
        for label, call in {
            "unknown channel": client.chat_postMessage(channel="C0GONE", text="x"),
            "no text": client.api_call("chat.postMessage", json={"channel": CHANNEL, "text": " "}),
            "unknown ts": client.chat_update(channel=CHANNEL, ts="1.000001", text="x"),
            "unknown method": client.api_call("chat.teleport"),
            "bad token": new_client(api, token="xoxb-wrong").auth_test(),
        }.items():
            with pytest.raises(SlackApiError) as caught:
                await call
            assert caught.value.response.status_code == 200
            errors[label] = caught.value.response["error"]
        api.fail_next("chat.postMessage", error="not_in_channel", channel=CHANNEL)
        with pytest.raises(SlackApiError) as injected:
            await client.chat_postMessage(channel=CHANNEL, text="x")

    assert errors == {
        "unknown channel": "channel_not_found",
        "no text": "no_text",
        "unknown ts": "message_not_found",
        "unknown method": "unknown_method",
        "bad token": "invalid_auth",
    }
    assert injected.value.response["error"] == "not_in_channel"
    assert api.texts(CHANNEL) == ["known by name"]
    async with SlackApiStandIn() as api, httpx.AsyncClient() as raw:
        answer = await raw.post(f"{api.base_url}auth.test")
    assert answer.status_code == 200 and answer.json() == {"ok": False, "error": "not_authed"}


async def test_429_and_503_surface_as_slack_api_error(slack_api: SlackApiStandIn) -> None:
    client = new_client(slack_api)
    slack_api.fail_next("chat.postMessage", 429, retry_after=7)

    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel=CHANNEL, text="first")
    slack_api.down()
    with pytest.raises(SlackApiError) as down:
        await client.auth_test()
    slack_api.up()
    await client.chat_postMessage(channel=CHANNEL, text="second")

    assert len(await slack_api.wait_for_calls("chat.postMessage", 2)) == 2
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert limited.value.response.data == {"ok": False, "error": "ratelimited"}
    assert down.value.response.status_code == 503 and down.value.response["error"] == "service_unavailable"
    assert [(r["status"], r["error"]) for r in slack_api.requests] == [
        (429, "ratelimited"), (503, "service_unavailable"), (200, None)
    ]  # fmt: skip
    assert slack_api.texts() == ["second"]


async def test_slack_sdk_retry_handlers_retry_500_and_429(slack_api: SlackApiStandIn) -> None:
    fast = FixedValueRetryIntervalCalculator(fixed_internal=0.01)
    client = new_client(
        slack_api,
        retry_handlers=[
            AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=fast),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    slack_api.fail_next("*", 500)
    slack_api.fail_next("chat.postMessage", 429, retry_after=0)

    await client.chat_postMessage(channel=CHANNEL, text="eventually")

    assert [r["status"] for r in slack_api.calls("chat.postMessage")] == [500, 429, 200]
    assert slack_api.texts() == ["eventually"]


async def test_delay_next_holds_the_answer(slack_api: SlackApiStandIn) -> None:
    client = new_client(slack_api)
    slack_api.delay_next("chat.postMessage", 0.3)

    started = time.monotonic()
    slow = asyncio.create_task(client.chat_postMessage(channel=CHANNEL, text="slow"))
    (post,) = await slack_api.wait_for_posts(CHANNEL, 1)
    waited = time.monotonic() - started
    await slow
    await client.chat_postMessage(channel=CHANNEL, text="fast")

    assert waited >= 0.3 and post["text"] == "slow"
    assert slack_api.texts(CHANNEL) == ["slow", "fast"]


# ---------------------------------------------------------------- signed requests into a real bolt app


async def test_url_verification_is_answered(slack_api: SlackApiStandIn) -> None:
    async with serve_bolt(new_app(slack_api)) as url:
        answer = await post_signed(url, *url_verification("challenge-123"), SECRET)

    assert answer.status_code == 200 and answer.json() == {"challenge": "challenge-123"}


async def test_message_event_reaches_listener_which_replies_in_thread(slack_api: SlackApiStandIn) -> None:
    app = new_app(slack_api)
    retry_nums: list[list[str] | None] = []
    handled = asyncio.Event()

    @app.event("message")
    async def on_message(event: dict[str, Any], say: Any, request: Any) -> None:
        retry_nums.append(request.headers.get("x-slack-retry-num"))
        await say(text=f"echo: {event['text']}", thread_ts=event["ts"])
        handled.set()

    async with serve_bolt(app) as url:
        body, content_type = message_event(CHANNEL, ANA, "my order is late", ts="1710000000.000001")
        answer = await post_signed(url, body, content_type, SECRET, retry_num=1, retry_reason="http_timeout")
        await asyncio.wait_for(handled.wait(), 5)

    assert answer.status_code == 200
    (reply,) = slack_api.thread(CHANNEL, "1710000000.000001")
    assert reply["text"] == "echo: my order is late" and reply["channel"] == CHANNEL and reply["token"] == TOKEN
    assert retry_nums == [["1"]]
    assert len(slack_api.calls("auth.test")) == 1  # bolt's single-team authorization


async def test_forged_and_stale_signatures_are_refused(slack_api: SlackApiStandIn) -> None:
    app = new_app(slack_api)
    seen: list[str] = []

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        seen.append(event["text"])

    async with serve_bolt(app) as url:
        forged = await post_signed(url, *message_event(CHANNEL, ANA, "forged"), SECRET, forge=True)
        stale = await post_signed(url, *message_event(CHANNEL, ANA, "stale"), SECRET, timestamp=int(time.time()) - 360)
        fresh = await post_signed(url, *message_event(CHANNEL, ANA, "fresh"), SECRET, timestamp=int(time.time()) - 60)
        await slack_api.wait_for(lambda: seen)

    assert forged.status_code == 401 and stale.status_code == 401 and fresh.status_code == 200
    assert seen == ["fresh"]


async def test_button_click_acked_and_listener_updates_the_message(slack_api: SlackApiStandIn) -> None:
    app = new_app(slack_api)
    clicks: list[dict[str, Any]] = []

    @app.action("claim")
    async def on_claim(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text=f"Claimed by <@{body['user']['id']}>"
        )
        clicks.append(action)

    posted = await new_client(slack_api).chat_postMessage(channel=CHANNEL, text="New ticket", blocks=BUTTONS)
    async with serve_bolt(app) as url:
        message = slack_api.message(CHANNEL, posted["ts"])
        answer = await post_signed(
            url, *block_action(ANA, "claim", "C-1042", CHANNEL, posted["ts"], message=message), SECRET
        )
        await slack_api.wait_for(lambda: clicks)  # the listener has finished
        (update,) = slack_api.updates(CHANNEL, posted["ts"])

    assert answer.status_code == 200 and answer.text == ""
    assert clicks[0]["value"] == "C-1042" and clicks[0]["block_id"] == "ticket_actions"
    assert update["text"] == f"Claimed by <@{ANA}>"
    stored = slack_api.message(CHANNEL, posted["ts"])
    assert stored is not None and stored["text"] == f"Claimed by <@{ANA}>" and "edited" in stored


async def test_select_menus_and_respond_through_a_served_response_url(slack_api: SlackApiStandIn) -> None:
    app = new_app(slack_api)
    answered: list[str] = []

    @app.action("priority")
    async def on_priority(ack: Any, action: dict[str, Any], respond: Any) -> None:
        await ack()
        await respond(text=f"priority: {action['selected_option']['value']}", replace_original=False)
        answered.append("priority")

    @app.action("assignee")
    async def on_assignee(ack: Any, action: dict[str, Any], respond: Any) -> None:
        await ack()
        await respond(text=f"assigned to <@{action['selected_user']}>")
        answered.append("assignee")

    hook = slack_api.response_url("ticket-1")
    async with serve_bolt(app) as url:
        ts = "1700000000.000900"
        first = await post_signed(
            url, *static_select_action(ANA, "priority", "high", CHANNEL, ts, response_url=hook), SECRET
        )
        second = await post_signed(
            url, *users_select_action(ANA, "assignee", "U0RUI", CHANNEL, ts, response_url=hook), SECRET
        )
        await slack_api.wait_for(lambda: len(answered) == 2)  # both listeners have finished

    assert first.status_code == second.status_code == 200
    assert sorted(body["text"] for body in slack_api.responses_to("ticket-1")) == [
        "assigned to <@U0RUI>",
        "priority: high",
    ]


async def test_slash_command_opens_a_modal_and_its_submission_is_handled(slack_api: SlackApiStandIn) -> None:
    app = new_app(slack_api)
    commands: list[dict[str, Any]] = []
    submitted = asyncio.Event()

    @app.command("/engage")
    async def on_engage(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        commands.append(command)
        await client.views_open(trigger_id=command["trigger_id"], view=COMPLAINT_VIEW)
        await ack("Opening the form")

    @app.view("complaint")
    async def on_complaint(ack: Any, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        reason = view["state"]["values"]["reason"]["reason_input"]["value"]
        if not reason:
            await ack(response_action="errors", errors={"reason": "Tell us what went wrong"})
            return
        await ack()
        await client.chat_postMessage(channel=CHANNEL, text=f"{view['private_metadata']}: {reason}")
        submitted.set()

    async with serve_bolt(app) as url:
        command = await post_signed(
            url, *slash_command("/engage", "complaint", ANA, CHANNEL, trigger_id="t-77"), SECRET
        )
        opened = slack_api.views_opened[-1]
        empty = view_submission(ANA, "complaint", state_values={"reason": {"reason_input": ""}}, view=opened)
        refused = await post_signed(url, *empty, SECRET)
        filled = view_submission(ANA, "complaint", state_values={"reason": {"reason_input": "Too slow"}}, view=opened)
        accepted = await post_signed(url, *filled, SECRET)
        await asyncio.wait_for(submitted.wait(), 5)

    assert command.status_code == 200 and command.text == "Opening the form"
    assert {key: commands[0][key] for key in ("command", "text", "user_id", "channel_id", "team_id", "trigger_id")} == {
        "command": "/engage",
        "text": "complaint",
        "user_id": ANA,
        "channel_id": CHANNEL,
        "team_id": "T1",
        "trigger_id": "t-77",
    }
    assert commands[0]["user_name"] and commands[0]["response_url"].startswith("https://")
    assert slack_api.calls("views.open")[0]["trigger_id"] == "t-77"
    assert refused.status_code == 200
    assert refused.json() == {"response_action": "errors", "errors": {"reason": "Tell us what went wrong"}}
    assert accepted.status_code == 200 and accepted.text == ""
    assert slack_api.texts(CHANNEL) == ["ticket=C-1042: Too slow"]


def test_signed_headers_verify_with_slack_sdk() -> None:
    body, _ = slash_command("/engage", "mine", ANA, CHANNEL)
    headers = signed_headers(body, SECRET)

    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
