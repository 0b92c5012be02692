"""The web chat over real HTTP: the app from build_app under uvicorn, talked to with httpx."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bot.config import Settings, WebchatRateLimits, load_settings
from bot.yamlsource import SourceError
from handlers.server import build_app
from tests.conftest import STARTER_FLOWS, FixedClock, make_settings
from tests.support.upload import post_streaming

VISITOR = "visitor_0123456789abcdef"


@asynccontextmanager
async def serving(settings: Settings, clock: FixedClock | None = None) -> AsyncIterator[str]:
    """The whole app served on a free local port (uvicorn's defaults: X-Forwarded-For from 127.0.0.1 is applied)."""
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
async def base_url(settings: Settings, clock: FixedClock) -> AsyncIterator[str]:
    """The whole app served on a free local port for the length of one test."""
    async with serving(settings, clock) as url:
        yield url


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
        ("in", "For my work"),  # a pressed button shows its label
        *[("out", text) for text in texts(second)],
    ]
    assert [m["id"] for m in transcript] == sorted(m["id"] for m in transcript)
    assert transcript[-1]["buttons"][0]["label"] == "Yes"

    newer = await http.get("/chat/api/messages", params={"visitor": VISITOR, "after": transcript[-2]["id"]})
    assert [m["id"] for m in newer.json()["messages"]] == [transcript[-1]["id"]]


def button(response: httpx.Response, label: str) -> str:
    return next(b["value"] for r in response.json()["replies"] for b in r.get("buttons", []) if b["label"] == label)


async def test_a_first_message_complaint_is_taken_at_once_and_ends_in_a_ticket(http: httpx.AsyncClient) -> None:
    first = await post(http, text="i want to complain, my order hasn't arrived", client_id="c-1")
    assert texts(first)[0] == (  # the welcome opens the answer's first message
        "Hi there, welcome to our service.\n\n"
        "I'm sorry something has gone wrong. Let's get it to the right person. It only takes a few questions."
    )
    asked = await post(http, text="It was due last Monday", client_id="c-2")
    skip = await post(http, choice=button(asked, "Order & delivery"), client_id="c-3")
    impact = await post(http, choice=button(skip, "Skip"), client_id="c-4")
    final = await post(http, text="quite a lot", client_id="c-5")  # typed instead of pressed
    assert "Your reference is C-1001." in texts(final)[0]
    transcript = (await http.get("/chat/api/messages", params={"visitor": VISITOR})).json()["messages"]
    said_in = [m["text"] for m in transcript if m["direction"] == "in"]
    assert said_in == [
        "i want to complain, my order hasn't arrived", "It was due last Monday", "Order & delivery", "Skip",
        "quite a lot",
    ]  # fmt: skip
    assert not any("mainly use us for" in m["text"] for m in transcript)
    assert impact.status_code == 200


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
    ("over 64 KiB", TOO_BIG, 413, "body too large (over 65536 bytes)"),
]


async def test_bad_posts_get_clear_json_errors_and_the_server_keeps_answering(http: httpx.AsyncClient) -> None:
    for case, body, status, error in BAD_POSTS:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await http.post("/chat/api/messages", content=content)
        assert response.status_code == status, case
        assert error in response.json()["error"], case
    # Streamed without a Content-Length, the size limit still holds.
    # (A plain socket reading while it sends: after the 413 the server closes the connection.)
    url = str(http.base_url.join("/chat/api/messages"))
    streamed = await asyncio.to_thread(post_streaming, url, total=len(TOO_BIG) * 4)
    assert (streamed.status, streamed.json()["error"]) == (413, "body too large (over 65536 bytes)")

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


# ---- the visitor id on a poll, and the client_id ----------------------------------------------------------------


async def test_a_poll_takes_the_visitor_from_the_header_or_the_query_string(http: httpx.AsyncClient) -> None:
    assert (await post(http, text="hi", client_id="c-1")).status_code == 200
    by_header = await http.get("/chat/api/messages", params={"after": 0}, headers={"X-Engagebot-Visitor": VISITOR})
    by_query = await http.get("/chat/api/messages", params={"visitor": VISITOR, "after": 0})  # the documented way
    assert by_header.status_code == by_query.status_code == 200
    assert by_header.json() == by_query.json()
    first = by_header.json()["messages"][0]
    assert (first["direction"], first["text"], first["client_id"]) == ("in", "hi", "c-1")
    # The answer depends on a header: no cache may keep it or give it to another visitor.
    assert by_header.headers["cache-control"] == "no-store"
    assert "x-engagebot-visitor" in by_header.headers["vary"].lower()

    both = await http.get("/chat/api/messages", params={"visitor": VISITOR}, headers={"X-Engagebot-Visitor": VISITOR})
    assert both.status_code == 200
    for case, params, headers in [
        ("neither", {}, {}),
        ("header and query disagree", {"visitor": "another_visitor_0123"}, {"X-Engagebot-Visitor": VISITOR}),
        ("a bad header", {}, {"X-Engagebot-Visitor": "short"}),
    ]:
        answer = await http.get("/chat/api/messages", params=params, headers=headers)
        assert answer.status_code == 400, case
        assert "X-Engagebot-Visitor header" in answer.json()["error"], case


async def test_a_message_sent_again_with_the_same_client_id_is_stored_and_answered_once(
    http: httpx.AsyncClient,
) -> None:
    """What the page does after a network error or a 5xx: the same client_id again. The first try may have been
    handled (only its answer lost): the repeat is not answered again, and the page finds the replies to the first
    try in the transcript it polls."""
    first = await post(http, text="/complain", client_id="k-1")
    assert "What happened?" in texts(first)[-1]
    again = await post(http, text="/complain", client_id="k-1")
    assert (again.status_code, again.json()) == (200, {"replies": []})
    # Both tries at once (the first still being handled when the page gave up on it): one is answered.
    both = await asyncio.gather(*(post(http, text="My parcel never arrived", client_id="k-2") for _ in range(2)))
    assert sorted(len(r.json()["replies"]) > 0 for r in both) == [False, True]

    transcript = (await http.get("/chat/api/messages", headers={"X-Engagebot-Visitor": VISITOR})).json()["messages"]
    said = [(m["text"], m["client_id"]) for m in transcript if m["direction"] == "in"]
    assert said == [("/complain", "k-1"), ("My parcel never arrived", "k-2")]
    asked = [m["text"] for m in transcript if m["direction"] == "out" and "What happened?" in m["text"]]
    assert len(asked) == 1
    assert [m["text"] for m in transcript if m["direction"] == "out"][-1] == texts(
        next(r for r in both if r.json()["replies"])
    )[-1]


# ---- rate limits ------------------------------------------------------------------------------------------------


def limited(tmp_path: Path, database_url: str, flows_dir: Path, **rate_limits: Any) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, webchat={"rate_limits": rate_limits})


def from_address(address: str) -> dict[str, str]:
    """As a trusted reverse proxy on 127.0.0.1 says it: uvicorn makes it the request's client address."""
    return {"X-Forwarded-For": address}


async def say_as(http: httpx.AsyncClient, visitor: str, address: str | None = None, text: str = "hi") -> httpx.Response:
    headers = from_address(address) if address else {}
    return await http.post("/chat/api/messages", json={"visitor": visitor, "text": text}, headers=headers)


def assert_too_many(answer: httpx.Response, error: str, at_most: int) -> int:
    """A 429 with Retry-After in whole seconds, the same in the JSON body; returns it."""
    assert answer.status_code == 429, answer.text
    seconds = int(answer.headers["retry-after"])
    assert 1 <= seconds <= at_most
    assert answer.json() == {"error": error, "retry_after": seconds}
    return seconds


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "engagebot.webchat" and "limit reached" in r.message]


async def test_past_a_visitors_limit_messages_are_refused_with_429_and_one_log_line(
    tmp_path: Path, database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "engagebot.webchat")
    settings = limited(tmp_path, database_url, flows_dir, visitor_messages={"rate": 1, "per": "minute", "burst": 3})
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        answers = [await say_as(http, VISITOR) for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 3
        for _ in range(5):
            assert_too_many(await say_as(http, VISITOR), "you are sending messages too quickly", at_most=60)
        assert (await say_as(http, "another_visitor_0123")).status_code == 200  # counted apart
        inbound = await http.get("/chat/api/messages", params={"visitor": VISITOR})
        assert [m["text"] for m in inbound.json()["messages"] if m["direction"] == "in"] == ["hi"] * 3  # none stored

    lines = refusal_lines(caplog)
    assert len(lines) == 1, lines  # one line for the burst of refusals, not one per request
    assert "visitor limit reached by visito…" in lines[0] and VISITOR not in lines[0]  # the id is a credential


async def test_past_an_addresss_limit_its_visitors_are_refused_but_other_addresses_are_not(
    tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    settings = limited(tmp_path, database_url, flows_dir, address_messages={"rate": 1, "per": "hour", "burst": 4})
    visitors = [f"visitor_{n}_0123456789abcdef" for n in range(3)]
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        for visitor in visitors[:2]:
            for _ in range(2):
                assert (await say_as(http, visitor, "203.0.113.7")).status_code == 200
        for visitor in visitors:
            assert_too_many(await say_as(http, visitor, "203.0.113.7"), "too many messages from your network", 3600)
        assert (await say_as(http, visitors[2], "198.51.100.20")).status_code == 200
        # Without X-Forwarded-For the client is 127.0.0.1, the bot's own host (an operator's curl, a test harness):
        # it skips the per-address limits by default, and limiting it would stop nobody (it can send any
        # X-Forwarded-For, as this test does).
        for visitor in visitors:
            for _ in range(3):
                assert (await say_as(http, visitor)).status_code == 200


async def test_loopback_skips_the_per_address_limits_unless_told_not_to_and_private_addresses_when_told_to(
    tmp_path: Path, database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind a proxy that cannot forward the client's address, every customer would be one private address."""
    caplog.set_level(logging.INFO, "engagebot.webchat")
    tight = {"new_visitors": {"rate": 1, "per": "hour", "burst": 2}}
    lan = "10.0.0.5"  # a private address (a customer on the LAN, or a proxy elsewhere), sent as a proxy on 127.0.0.1

    def newcomers(http: httpx.AsyncClient, address: str | None, tag: str) -> Any:
        return asyncio.gather(*(say_as(http, f"{tag}_visitor_{n}_0123456789", address) for n in range(4)))

    async def statuses(answers: Any) -> list[int]:
        return sorted(answer.status_code for answer in await answers)

    for folder in ("default", "private", "none"):
        (tmp_path / folder).mkdir()
    settings = limited(tmp_path / "default", database_url, flows_dir, **tight)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert await statuses(newcomers(http, None, "loop")) == [200] * 4  # loopback: exempt by default
        assert await statuses(newcomers(http, lan, "lan")) == [200, 200, 429, 429]  # private: limited
        assert await statuses(newcomers(http, "203.0.113.7", "pub")) == [200, 200, 429, 429]
    (hint,) = [r.getMessage() for r in caplog.records if "a loopback address" in r.message]
    assert "skip the per-address limits" in hint and "make it send X-Forwarded-For" in hint

    settings = limited(tmp_path / "private", database_url, flows_dir, exempt_private_addresses=True, **tight)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert await statuses(newcomers(http, lan, "lan2")) == [200] * 4
        assert await statuses(newcomers(http, None, "loop2")) == [200] * 4
        assert await statuses(newcomers(http, "203.0.113.8", "pub2")) == [200, 200, 429, 429]  # public: limited

    settings = limited(tmp_path / "none", database_url, flows_dir, exempt_networks=[], **tight)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert await statuses(newcomers(http, None, "loop3")) == [200, 200, 429, 429]  # [] limits loopback too


async def test_one_address_may_start_only_so_many_new_conversations_and_returning_visitors_never_count(
    tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    settings = limited(tmp_path, database_url, flows_dir, new_visitors={"rate": 1, "per": "hour", "burst": 2})
    ana, bob, cai, dan, eve = (f"{name}_visitor_0123456789" for name in ("ana", "bob", "cai", "dan", "eve"))
    office = "203.0.113.7"
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert [(await say_as(http, v, office)).status_code for v in (ana, bob)] == [200, 200]
        seconds = assert_too_many(await say_as(http, cai, office), "too many new conversations from your network", 3600)
        assert seconds > 3000  # one new visitor an hour: the next one in about an hour
        assert (await say_as(http, ana, office, "menu")).status_code == 200  # a returning visitor goes on
        assert (await say_as(http, cai, "198.51.100.20")).status_code == 200  # another address has its own count
    # A restart (or another instance) forgets who was seen: the database still knows Ana and Bob.
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        for visitor in (ana, bob, ana):
            assert (await say_as(http, visitor, office)).status_code == 200
        assert [(await say_as(http, v, office)).status_code for v in (dan, eve)] == [200, 200]
        assert (await say_as(http, "fay_visitor_0123456789", office)).status_code == 429


async def test_an_ipv6_client_counts_as_its_64_network(tmp_path: Path, database_url: str, flows_dir: Path) -> None:
    settings = limited(tmp_path, database_url, flows_dir, new_visitors={"rate": 1, "per": "hour", "burst": 2})
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        statuses = [(await say_as(http, f"v6_visitor_{n}_0123456789", f"2001:db8:0:7::{n + 1}")).status_code
                    for n in range(3)]  # fmt: skip
        assert statuses == [200, 200, 429]  # one line's addresses: one count
        assert (await say_as(http, "v6_visitor_x_0123456789", "2001:db8:0:8::1")).status_code == 200


async def test_an_ipv6_party_cycling_through_its_64_networks_is_held_by_its_56(
    tmp_path: Path, database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each /64 had a count of its own, and one forgotten past max_tracked_keys came back fresh: a party holding
    a /56 (256 /64s; a /48 has 65,536) could start new conversations without end. Its /56 now counts as well, at
    4 times the limit, in a count that churning /64s cannot push out of memory."""
    caplog.set_level(logging.INFO, "engagebot.webchat")
    settings = limited(tmp_path, database_url, flows_dir, new_visitors={"rate": 1, "per": "hour", "burst": 2},
                       max_tracked_keys=100)  # fmt: skip
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        statuses = [(await say_as(http, f"cycler_{n}_0123456789", f"2001:db8:0:1{n % 256:02x}::1")).status_code
                    for n in range(300)]  # fmt: skip
        assert statuses.count(200) == 2 * 4, statuses.count(200)  # was 300: 300 fresh counts
        assert set(statuses[8:]) == {429}
        # Its neighbours in another /56 keep their own counts; a /64 in the busy /56 that is still within its own
        # limit is held by the /56's.
        assert (await say_as(http, "neighbour_0123456789", "2001:db8:0:200::1")).status_code == 200
        assert (await say_as(http, "late_visitor_0123456789", "2001:db8:0:1ff::7")).status_code == 429
    assert [line for line in refusal_lines(caplog) if "2001:db8:0:100::/56" in line]


async def test_polls_are_limited_per_visitor_and_per_address(
    tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    settings = limited(tmp_path, database_url, flows_dir, visitor_polls={"rate": 1, "per": "hour", "burst": 3},
                       address_polls={"rate": 1, "per": "hour", "burst": 5})  # fmt: skip
    ana, bob = "ana_visitor_0123456789", "bob_visitor_0123456789"

    async def poll(http: httpx.AsyncClient, visitor: str, address: str) -> httpx.Response:
        return await http.get("/chat/api/messages", headers={"X-Engagebot-Visitor": visitor, **from_address(address)})

    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert [(await poll(http, ana, "203.0.113.7")).status_code for _ in range(3)] == [200] * 3
        assert_too_many(await poll(http, ana, "203.0.113.7"), "too many requests", 3600)
        assert (await poll(http, bob, "203.0.113.7")).status_code == 200  # the address's fifth
        assert_too_many(await poll(http, bob, "203.0.113.7"), "too many requests from your network", 3600)
        assert (await poll(http, bob, "198.51.100.20")).status_code == 200


async def test_limits_set_to_null_or_false_are_off_and_enabled_false_turns_them_all_off(
    tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    tiny = {"rate": 1, "per": "day", "burst": 1}
    for limits in (
        {"visitor_messages": None, "address_messages": False, "new_visitors": "off"},
        {"enabled": False, "visitor_messages": tiny, "address_messages": tiny, "new_visitors": tiny},
    ):
        settings = limited(tmp_path, database_url, flows_dir, **limits)
        async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
            for n in range(3):
                for _ in range(3):
                    assert (await say_as(http, f"visitor_{n}_0123456789abc", "203.0.113.7")).status_code == 200


def test_rate_limits_in_config_yaml_are_checked_with_their_line(tmp_path: Path, flows_dir: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"flows: {{dir: {flows_dir}}}\n"
        "webchat:\n"
        "  rate_limits:\n"
        "    visitor_messages: off\n"
        "    new_visitors: {rate: 30, per: hour, burst: 10}\n"
        "    exempt_networks: [203.0.113.0/24, '2001:db8::/48']\n",
        encoding="utf-8",
    )
    limits = load_settings(config, env={}).webchat.rate_limits
    assert limits.visitor_messages is None
    assert limits.new_visitors is not None and limits.new_visitors.per_seconds / limits.new_visitors.rate == 120
    assert limits.address_messages == WebchatRateLimits().address_messages  # the default

    config.write_text("webchat:\n  rate_limits:\n    exempt_networks: [the office]\n", encoding="utf-8")
    with pytest.raises(SourceError) as bad:
        load_settings(config, env={})
    assert "line 3" in str(bad.value) or ":3:" in str(bad.value)
    assert "'the office' is not an address or network" in str(bad.value)
