"""Bad input over HTTP into one real `engagebot run` (Telegram webhook, Slack events, web chat and the admin API all
on), with the Bot API and Slack Web API stand-ins served from a thread of their own.

Random and malformed Telegram updates, Slack requests (unsigned, forged, replayed, stale, and signed garbage), web
chat posts, oversized bodies on every endpoint that takes one, and wrong API keys: each gets a clear answer (a 4xx
with a reason, or 200 when it is something to handle), never a 500, and the process keeps serving. Afterwards a
valid update is still answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.reliability.harness import (
    API_KEY,
    SLACK_SECRET,
    STAFF,
    SUPPORT,
    WEBHOOK_SECRET,
    EngagebotProcess,
    StandInThread,
    slack_env,
    telegram_env,
    write_config,
)
from tests.support.slack_standin import event_callback, signed_headers, slash_command

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEBHOOK = "/telegram/webhook"
SLACK = "/slack/events"
TOO_LARGE = 2 * 1024 * 1024 + 1  # past every endpoint's limit (the largest is the API's 1 MiB)


@dataclass
class Server:
    bot: EngagebotProcess
    stand_ins: StandInThread
    http: httpx.Client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("bad-input")
    config = write_config(
        folder, server={"public_url": "https://bot.example.test"}, staff=STAFF, routing={"fallback": "ana"},
        slack={"channels": {"default": SUPPORT}},
    )  # fmt: skip
    with StandInThread() as stand_ins:
        env = {
            **telegram_env(stand_ins.telegram, "webhook"),
            **slack_env(stand_ins.slack),
            "ENGAGEBOT_API_KEY": API_KEY,
        }
        bot = EngagebotProcess(config, f"sqlite+aiosqlite:///{folder / 'engagebot.db'}", folder / "bot.log", env)
        try:
            with httpx.Client(base_url=bot.url, timeout=30) as http:
                deadline = time.monotonic() + 30
                while stand_ins.telegram.webhook is None:  # up, and registered its webhook
                    assert bot.alive() and time.monotonic() < deadline, bot.tail()
                    time.sleep(0.05)
                yield Server(bot, stand_ins, http)
        finally:
            bot.stop()


def assert_clear_answer(answer: httpx.Response, allowed: tuple[int, ...], server: Server) -> None:
    assert answer.status_code in allowed, (answer.status_code, answer.text[:300], server.bot.tail())
    if answer.status_code >= 400:
        assert answer.text.strip(), "an error says what is wrong"


# ---- Telegram ----------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
ids = st.one_of(st.integers(), st.integers(-(2**70), 2**70), st.text(max_size=10), st.none())
users = st.fixed_dictionaries({}, optional={"id": ids, "is_bot": st.booleans() | json_values,
                                            "first_name": st.text(max_size=40) | json_values,
                                            "language_code": st.text(max_size=5)})  # fmt: skip
chat_types = st.sampled_from(["private", "group", "channel"]) | st.text()
chats = st.fixed_dictionaries({}, optional={"id": ids, "type": chat_types, "title": st.text(max_size=20)})
messages = st.fixed_dictionaries(
    {},
    optional={
        "message_id": ids, "date": ids, "chat": chats | json_values, "from": users | json_values,
        "text": st.text(max_size=200) | json_values, "caption": st.text(max_size=50),
        "entities": st.lists(json_values, max_size=2), "photo": st.lists(json_values, max_size=2),
        "sticker": json_values, "location": json_values, "reply_markup": json_values,
    },
)  # fmt: skip
callbacks = st.fixed_dictionaries({}, optional={"id": ids, "from": users, "message": messages | json_values,
                                                "data": st.text(max_size=80) | json_values,
                                                "chat_instance": st.text(max_size=10)})  # fmt: skip
updates = st.fixed_dictionaries(
    {"update_id": ids},
    optional={"message": messages | json_values, "edited_message": messages, "callback_query": callbacks,
              "my_chat_member": json_values, "channel_post": messages},
)  # fmt: skip


@EXAMPLES
@given(update=updates | json_values)
def test_random_telegram_updates_are_handled_or_refused_with_400(server: Server, update: Any) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    answer = server.http.post(WEBHOOK, json=update, headers=headers)
    assert_clear_answer(answer, (200, 400), server)


@settings(max_examples=30, deadline=None)
@given(body=st.binary(max_size=300))
def test_telegram_webhook_bodies_that_are_not_json_are_400(server: Server, body: bytes) -> None:
    answer = server.http.post(WEBHOOK, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    assert_clear_answer(answer, (200, 400), server)


@pytest.mark.parametrize("secret", [None, "", "wrong", WEBHOOK_SECRET + "x", WEBHOOK_SECRET.lower()])
def test_the_telegram_webhook_refuses_a_missing_or_wrong_secret(server: Server, secret: str | None) -> None:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    update = server.stand_ins.telegram.text_update(5555, "hi")
    assert_clear_answer(server.http.post(WEBHOOK, json=update, headers=headers), (403,), server)
    assert server.stand_ins.telegram.messages_to(5555) == []


# ---- Slack -------------------------------------------------------------------------------------------------------

texts = st.text(max_size=100)
slack_events = st.builds(
    lambda event: event_callback(event)[0],
    st.fixed_dictionaries({"type": st.sampled_from(["message", "app_mention"]) | texts},
                          optional={"channel": texts, "user": texts, "text": texts, "ts": texts, "thread_ts": texts,
                                    "subtype": texts, "bot_id": texts}),
)  # fmt: skip
interactions = st.builds(
    lambda payload: urlencode({"payload": json.dumps(payload)}),
    st.fixed_dictionaries({"type": st.sampled_from(["block_actions", "view_submission", "shortcut"]) | texts},
                          optional={"user": json_values, "actions": st.lists(json_values, max_size=2),
                                    "view": json_values, "channel": json_values, "message": json_values,
                                    "trigger_id": texts, "team": json_values}),
)  # fmt: skip
commands = st.builds(lambda text, user: slash_command("/engage", text, user, SUPPORT)[0], texts, texts)
slack_bodies = st.one_of(slack_events, interactions, commands, texts, json_values.map(json.dumps))


def signed(body: str, **options: Any) -> dict[str, str]:
    return signed_headers(body, SLACK_SECRET, **options)


@EXAMPLES
@given(body=slack_bodies)
def test_slack_requests_without_a_valid_fresh_signature_are_401(server: Server, body: str) -> None:
    stale = int(time.time()) - 6 * 60
    replayed = signed("another body")  # a real signature, lifted from another request
    for headers in ({}, signed_headers(body, "forged-secret"), signed(body, timestamp=stale), replayed):
        headers.setdefault("Content-Type", "application/json")
        assert_clear_answer(server.http.post(SLACK, content=body.encode(), headers=headers), (401,), server)


@EXAMPLES
@given(body=slack_bodies)
# Shapes that once reached slack-bolt's listener matching and came back 500.
@example(body=urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})}))
@example(body=urlencode({"payload": json.dumps({"type": "block_actions", "user": False})}))
def test_signed_slack_garbage_gets_an_answer_not_a_crash(server: Server, body: str) -> None:
    answer = server.http.post(SLACK, content=body.encode(), headers=signed(body))
    assert answer.status_code < 500, (answer.status_code, answer.text[:300], server.bot.tail())


# ---- web chat, oversized bodies, the admin API -------------------------------------------------------------------


@EXAMPLES
@given(body=json_values | st.fixed_dictionaries({"visitor": texts | json_values}, optional={
    "text": texts | json_values, "choice": texts | json_values, "name": texts | json_values,
    "client_id": texts | json_values}))  # fmt: skip
def test_random_web_chat_posts_are_answered_or_refused_with_400(server: Server, body: Any) -> None:
    assert_clear_answer(server.http.post("/chat/api/messages", json=body), (200, 400), server)


OVERSIZED = [
    ("/chat/api/messages", {}),
    ("/api/events", {"X-API-Key": API_KEY}),
    (WEBHOOK, {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}),
    (SLACK, {}),
]


@pytest.mark.parametrize(("path", "headers"), OVERSIZED, ids=[path for path, _ in OVERSIZED])
def test_an_oversized_body_is_refused_with_413(server: Server, path: str, headers: dict[str, str]) -> None:
    body = b'{"text": "' + b"x" * TOO_LARGE + b'"}'
    if path == SLACK:
        headers = signed(body.decode())
    answer = server.http.post(path, content=body, headers={"Content-Type": "application/json", **headers})
    assert_clear_answer(answer, (413,), server)


API_ROUTES = [("POST", "/api/events"), ("GET", "/api/customers/1"), ("GET", "/api/customers/1/export"),
              ("DELETE", "/api/customers/1")]  # fmt: skip
printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


@settings(max_examples=40, deadline=None)
@given(
    route=st.sampled_from(API_ROUTES),
    scheme=st.sampled_from(["Bearer", "bearer", "Basic", "Token", ""]),
    key=printable.filter(lambda k: k.strip() != API_KEY),
    header=st.sampled_from(["authorization", "x-api-key"]),
)
def test_the_api_refuses_missing_or_wrong_keys_with_401(
    server: Server, route: tuple[str, str], scheme: str, key: str, header: str
) -> None:
    value = f"{scheme} {key}".strip() if header == "authorization" else key
    method, path = route
    answer = server.http.request(method, path, headers={header: value} if value else {}, json=[])
    assert_clear_answer(answer, (401,), server)
    assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert API_KEY not in answer.text


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_the_right_key_is_let_in(server: Server, method: str, path: str) -> None:
    answer = server.http.request(method, path, headers={"Authorization": f"Bearer {API_KEY}"}, json=[])
    assert_clear_answer(answer, (200, 404, 422), server)


# ---- afterwards ----------------------------------------------------------------------------------------------------


def test_after_all_that_a_valid_update_is_still_answered(server: Server) -> None:
    api = server.stand_ins.telegram
    update = api.text_update(4242, "hi", first_name="Vera")
    update["update_id"] = 10**15  # no random update took it
    answer = server.http.post(WEBHOOK, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    assert answer.status_code == 200
    deadline = time.monotonic() + 15
    while len(api.messages_to(4242)) < 2:
        assert time.monotonic() < deadline, server.bot.tail()
        time.sleep(0.05)
    assert api.messages_to(4242)[0].startswith("Hi Vera, welcome")
    assert server.bot.alive()
    assert server.http.get("/healthz").status_code == 200
