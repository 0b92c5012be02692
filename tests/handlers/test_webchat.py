"""The web chat over real HTTP: the app from build_app under uvicorn, talked to with httpx."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from bot.config import Settings
from handlers.server import build_app
from tests.conftest import STARTER_FLOWS, FixedClock

VISITOR = "visitor_0123456789abcdef"


@pytest.fixture
async def base_url(settings: Settings, clock: FixedClock) -> AsyncIterator[str]:
    """The whole app served on a free local port for the length of one test."""
    app = build_app(settings, clock=clock, background=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # start-up failed: raise its error here
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


async def post(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post("/chat/api/messages", json={"visitor": VISITOR, **body})


def texts(response: httpx.Response) -> list[str]:
    return [reply["text"] for reply in response.json()["replies"]]


# ---- the page, health, metrics ----------------------------------------------------------------


async def test_the_chat_page_health_and_metrics_are_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/chat")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Chat with us</title>" in page.text

    health = await http.get("/healthz")
    assert (health.status_code, health.json()) == (
        200,
        {"status": "ok", "flows": len(list(STARTER_FLOWS.glob("*.yaml")))},
    )

    metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE engagebot_inbound_messages_total counter" in metrics.text
    assert "# TYPE engagebot_reply_seconds histogram" in metrics.text

    assert (await http.get("/", follow_redirects=False)).headers["location"] == "/chat"


def inbound_count(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith('engagebot_inbound_messages_total{channel="web"}'):
            return float(line.split()[-1])
    return 0.0


async def test_web_chat_messages_are_counted_in_the_metrics(http: httpx.AsyncClient) -> None:
    before = inbound_count((await http.get("/metrics")).text)
    assert (await post(http, text="hi")).status_code == 200
    assert inbound_count((await http.get("/metrics")).text) == before + 1


# ---- a conversation -----------------------------------------------------------------------------


async def test_a_conversation_over_http_with_buttons_and_the_transcript_in_order(http: httpx.AsyncClient) -> None:
    first = await post(http, text="hi", name="Ana Lima", client_id="m-1")
    assert first.status_code == 200
    replies = first.json()["replies"]
    assert "welcome" in replies[0]["text"].lower()
    question = replies[-1]
    assert {"label": "For my work", "value": question["buttons"][1]["value"]} in question["buttons"]
    assert question["answer_kind"] == "choice"

    second = await post(http, choice=question["buttons"][1]["value"], client_id="m-2")  # press "For my work"
    assert second.status_code == 200
    assert "check in with you" in texts(second)[-1]
    assert [b["label"] for b in second.json()["replies"][-1]["buttons"]] == ["Yes", "No"]

    again = await post(http, text="hi", client_id="m-1")  # the page re-sent a message after a network error
    assert (again.status_code, again.json()) == (200, {"replies": []})

    transcript = (await http.get("/chat/api/messages", params={"visitor": VISITOR, "after": 0})).json()["messages"]
    said = [(m["direction"], m["text"]) for m in transcript]
    assert said == [
        ("in", "hi"),
        *[("out", text) for text in texts(first)],
        ("in", ""),
        *[("out", text) for text in texts(second)],
    ]
    assert [m["id"] for m in transcript] == sorted(m["id"] for m in transcript)
    assert transcript[-1]["buttons"][0]["label"] == "Yes"

    newer = await http.get("/chat/api/messages", params={"visitor": VISITOR, "after": transcript[-2]["id"]})
    assert [m["id"] for m in newer.json()["messages"]] == [transcript[-1]["id"]]


async def test_nul_bytes_and_lone_surrogates_over_http_are_answered_and_stored_clean(http: httpx.AsyncClient) -> None:
    # JSON escapes: \u0000 and a lone \ud800 reach the engine as they are.
    body = json.dumps({"visitor": VISITOR, "text": "hel\x00lo \ud800 there", "name": "A\x00na"})
    assert "\\u0000" in body and "\\ud800" in body
    response = await http.post("/chat/api/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["replies"]
    transcript = (await http.get("/chat/api/messages", params={"visitor": VISITOR})).json()["messages"]
    assert transcript[0] == {"id": transcript[0]["id"], "direction": "in", "text": "hello \ufffd there"}
    assert "Hi Ana," in transcript[1]["text"]


# ---- bad requests ------------------------------------------------------------------------------

TOO_BIG = json.dumps({"visitor": VISITOR, "text": "x" * (64 * 1024)}).encode()


async def chunks_of(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


BAD_POSTS: list[tuple[str, Any, int, str]] = [
    # (case, request body, status, error)
    ("not JSON", b"hello", 400, "body must be JSON"),
    ("not UTF-8", b"\xff\xfe\xfa", 400, "body must be JSON"),
    ("nested too deep", b"[" * 60_000, 400, "body must be JSON"),
    ("a JSON list", b"[]", 400, "body must be a JSON object"),
    ("no visitor", {"text": "hi"}, 400, "visitor must be 16-64 characters"),
    ("a short visitor id", {"visitor": "abc", "text": "hi"}, 400, "visitor must be 16-64 characters"),
    ("a visitor id with a newline", {"visitor": VISITOR + "\n", "text": "hi"}, 400, "visitor must be 16-64"),
    ("a visitor id with a slash", {"visitor": "../../etc/passwd_xx", "text": "hi"}, 400, "visitor must be"),
    ("neither text nor choice", {"visitor": VISITOR}, 400, "send text or choice"),
    ("text not a string", {"visitor": VISITOR, "text": 42}, 400, "text must be a string"),
    ("text a list", {"visitor": VISITOR, "text": ["hi"]}, 400, "text must be a string"),
    ("choice not a string", {"visitor": VISITOR, "choice": {"a": 1}}, 400, "choice must be a string"),
    ("over 64 KiB", TOO_BIG, 413, "message too large"),
]


async def test_bad_posts_get_clear_json_errors_and_the_server_keeps_answering(http: httpx.AsyncClient) -> None:
    for case, body, status, error in BAD_POSTS:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await http.post("/chat/api/messages", content=content)
        assert response.status_code == status, case
        assert error in response.json()["error"], case
    # Streamed without a Content-Length, the size limit still holds.
    response = await http.post("/chat/api/messages", content=chunks_of(TOO_BIG))
    assert (response.status_code, response.json()["error"]) == (413, "message too large (over 65536 bytes)")

    assert (await post(http, text="hi")).status_code == 200
    assert (await http.get("/healthz")).json()["status"] == "ok"


BAD_GETS = [
    # (case, query, error)
    ("no visitor", {}, "visitor must be 16-64 characters"),
    ("a bad visitor id", {"visitor": "x y"}, "visitor must be 16-64 characters"),
    ("after not a number", {"visitor": VISITOR, "after": "abc"}, "after must be a message id"),
    ("after negative", {"visitor": VISITOR, "after": "-1"}, "after must be a message id"),
    ("after a superscript digit", {"visitor": VISITOR, "after": "²"}, "after must be a message id"),
    ("after absurdly long", {"visitor": VISITOR, "after": "9" * 400}, "after must be a message id"),
]


async def test_bad_polls_get_clear_json_errors_and_the_server_keeps_answering(http: httpx.AsyncClient) -> None:
    assert (await post(http, text="hi")).status_code == 200
    for case, params, error in BAD_GETS:
        response = await http.get("/chat/api/messages", params=params)
        assert (response.status_code, error in response.json()["error"]) == (400, True), case
    huge = await http.get("/chat/api/messages", params={"visitor": VISITOR, "after": "99999999999"})
    assert (huge.status_code, huge.json()) == (200, {"messages": []})
    everything = await http.get("/chat/api/messages", params={"visitor": VISITOR, "after": "0"})
    assert everything.json()["messages"][0]["text"] == "hi"
    stranger = await http.get("/chat/api/messages", params={"visitor": "nobody_0123456789abcdef"})
    assert (stranger.status_code, stranger.json()) == (200, {"messages": []})
