"""The chat page in a real browser (the system Chromium driven by Playwright) against the real app over HTTP.

The page is opened as http://shop.example.test:PORT (mapped to 127.0.0.1 by Chromium's resolver rules): a plain-http
site that is not localhost, so, as on a shop's own server without TLS, it is NOT a secure context and
crypto.randomUUID does not exist there.

Without Chromium the tests are skipped locally; in CI (env CI set) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.handlers.test_webchat import serving

CHROMIUM = Path(os.environ.get("ENGAGEBOT_CHROMIUM", "/usr/bin/chromium"))
HOST = "shop.example.test"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
]  # fmt: skip
POLITE = "You're sending messages quickly — one moment."

try:
    from playwright.async_api import Browser, Page, Request, Route, async_playwright
except ImportError:  # pragma: no cover - the `test` extra installs it
    async_playwright = None  # type: ignore[assignment]


def _unavailable() -> str | None:
    if async_playwright is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set ENGAGEBOT_CHROMIUM)"
    return None


@asynccontextmanager
async def system_chromium() -> AsyncIterator[Browser]:
    """The system Chromium under Playwright; the test is skipped without it, except in CI, where it fails."""
    reason = _unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with system_chromium() as launched:
        yield launched


@asynccontextmanager
async def serve(tmp_path: Path, flows_dir: Path, **webchat: Any) -> AsyncIterator[str]:
    """The whole app (SQLite: the page is what is under test here); yields the page's base URL."""
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}", flows_dir,
                             webchat=webchat)  # fmt: skip
    async with serving(settings) as url:
        yield url.replace("127.0.0.1", HOST)


@pytest.fixture
async def site(tmp_path: Path, flows_dir: Path) -> AsyncIterator[str]:
    async with serve(tmp_path, flows_dir) as url:
        yield url


@pytest.fixture
async def tight_site(tmp_path: Path, flows_dir: Path) -> AsyncIterator[str]:
    """Two messages at once per visitor, then one every 3 s: a customer typing fast meets a 429."""
    limits = {"visitor_messages": {"rate": 20, "per": "minute", "burst": 2}}
    async with serve(tmp_path, flows_dir, rate_limits=limits) as url:
        yield url


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser profile. The page's script must run under the served Content-Security-Policy with no error."""
    context = await browser.new_context()
    opened = await context.new_page()
    opened.set_default_timeout(15_000)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    opened.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        yield opened
    finally:
        await context.close()
    assert problems == []


async def transcript(site: str, visitor: str) -> list[dict[str, Any]]:
    """What the server stored, read the documented way (?visitor= in the query string)."""
    local = site.replace(HOST, "127.0.0.1")
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{local}/chat/api/messages", params={"visitor": visitor, "after": 0})
    return list(answer.json()["messages"])


async def open_chat(page: Page, site: str) -> str:
    """Open the page, wait for the greeting; returns the visitor id the page chose."""
    await page.goto(f"{site}/chat")
    await page.locator(".msg.out").first.wait_for()
    return str(await page.evaluate("localStorage.getItem('engagebot-visitor')"))


async def say(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def screenshot(page: Page, name: str) -> None:
    """Kept for a person to look at when ENGAGEBOT_SCREENSHOTS names a folder."""
    folder = os.environ.get("ENGAGEBOT_SCREENSHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / name))


def posts_of(requests: list[Request], text: str) -> list[dict[str, Any]]:
    bodies = [json.loads(r.post_data or "{}") for r in requests if r.method == "POST"]
    return [body for body in bodies if body.get("text") == text]


async def test_the_visitor_id_is_random_even_without_a_secure_context_and_polls_send_it_in_a_header(
    page: Page, site: str
) -> None:
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/chat/api/" in r.url else None)
    visitor = await open_chat(page, site)

    assert await page.evaluate("[window.isSecureContext, typeof crypto.randomUUID]") == [False, "undefined"]
    assert re.fullmatch(r"[0-9a-f]{32}", visitor), visitor  # 16 bytes from crypto.getRandomValues
    await say(page, "hi")
    await page.locator(".msg.in", has_text="hi").wait_for()
    polls = [r for r in requests if r.method == "GET"]
    assert polls
    for poll in polls:
        assert "visitor" not in poll.url, poll.url
        assert await poll.header_value("x-engagebot-visitor") == visitor
    await page.locator(".buttons:not(.used) button", has_text="Just for me").click()
    await page.locator(".msg.out", has_text="check in with you").wait_for()
    assert await page.locator(".msg.in:not(.pending)", has_text="Just for me").count() == 1  # the pressed label
    await screenshot(page, "webchat-conversation.png")
    said = [m["text"] for m in await transcript(site, visitor) if m["direction"] == "in"]
    assert said == ["/start", "hi", "Just for me"]  # a button press is stored with its label (and its value)

    other = await page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        second = await open_chat(await other.new_page(), site)
    finally:
        await other.close()
    assert re.fullmatch(r"[0-9a-f]{32}", second) and second != visitor


async def test_a_pressed_button_shows_its_label_after_a_reload_too_and_a_typed_complaint_ends_in_a_ticket(
    page: Page, site: str
) -> None:
    await open_chat(page, site)
    await page.locator(".buttons:not(.used) button", has_text="For my work").click()
    await page.locator(".msg.out", has_text="check in with you").wait_for()
    await say(page, "my order is late")
    await page.locator(".msg.out", has_text="What happened?").wait_for()
    await say(page, "The parcel never came")
    await page.locator(".buttons:not(.used) button", has_text="Order & delivery").click()
    await page.locator(".buttons:not(.used) button", has_text="Skip").click()
    await page.locator(".buttons:not(.used) button", has_text="Quite a lot").click()
    await page.locator(".msg.out", has_text="Your reference is C-1001.").wait_for()

    await page.reload()  # drawn again from the transcript alone: the presses show what was chosen
    await page.locator(".msg.out", has_text="Your reference is C-1001.").wait_for()
    shown = await page.locator(".msg.in").all_inner_texts()
    assert shown == ["For my work", "my order is late", "The parcel never came", "Order & delivery", "Skip",
                     "Quite a lot"]  # fmt: skip
    assert await page.locator(".msg.in:empty").count() == 0  # no empty bubble
    await screenshot(page, "webchat-pressed-labels.png")


@pytest.mark.parametrize(
    ("failure", "shown"),
    [
        ("connection reset", "Not sent yet: no connection."),
        ("503 from a proxy", "Not sent yet: the server had a problem."),
    ],
)
async def test_a_message_whose_post_fails_is_sent_again_with_the_same_client_id_and_stored_once(
    page: Page, site: str, failure: str, shown: str
) -> None:
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/chat/api/" in r.url else None)
    failed: list[str] = []

    async def fail_first_post(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}") if route.request.method == "POST" else {}
        if body.get("text") == "Where is my order?" and not failed:
            failed.append(body["client_id"])
            # The page's timers stop here, so the retry waits until the test has seen what the customer sees.
            await page.clock.pause_at(time.time() + 1)
            if failure == "connection reset":  # dropped before the server saw it
                await route.abort("connectionreset")
            else:
                await route.fulfill(status=503, body="<h1>503 Service Unavailable</h1>", content_type="text/html")
        else:
            await route.continue_()

    await page.clock.install()
    visitor = await open_chat(page, site)
    await page.route("**/chat/api/messages*", fail_first_post)
    await say(page, "Where is my order?")
    await page.locator(".pending .status", has_text=shown).wait_for()  # the customer sees it is retried
    await screenshot(page, "webchat-retrying.png")
    await page.clock.resume()
    await page.locator(".msg.in:not(.pending)", has_text="Where is my order?").wait_for()

    tries = posts_of(requests, "Where is my order?")
    assert [t["client_id"] for t in tries] == failed * 2  # the same client_id both times
    stored = [m for m in await transcript(site, visitor) if m["direction"] == "in" and m["text"] != "/start"]
    assert [(m["text"], m["client_id"]) for m in stored] == [("Where is my order?", failed[0])]
    assert await page.locator(".msg.in", has_text="Where is my order?").count() == 1
    assert await page.locator(".pending").count() == 0


async def test_a_message_whose_answer_is_lost_keeps_its_client_id_and_is_answered_once(page: Page, site: str) -> None:
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/chat/api/" in r.url else None)
    lost: list[str] = []

    async def lose_first_answer(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}") if route.request.method == "POST" else {}
        if body.get("text") == "/complain" and not lost:
            lost.append(body["client_id"])
            # The server stores and answers it (fetched by Playwright, which does not know the browser's host map)...
            await route.fetch(url=route.request.url.replace(HOST, "127.0.0.1"))
            await route.abort("connectionreset")  # ...and the answer never reaches the page
        else:
            await route.continue_()

    visitor = await open_chat(page, site)
    await page.route("**/chat/api/messages*", lose_first_answer)
    await say(page, "/complain")
    question = page.locator(".msg.out", has_text="What happened?")
    await question.wait_for()
    await page.wait_for_function("!document.querySelector('.pending')")

    # Sent again, or found in the transcript by a poll before the retry came due: either way with the same client_id.
    tries = [t["client_id"] for t in posts_of(requests, "/complain")]
    assert tries in (lost, lost * 2)
    stored = await transcript(site, visitor)
    assert [m["text"] for m in stored if m["direction"] == "in"] == ["/start", "/complain"]
    assert sum("What happened?" in m["text"] for m in stored) == 1  # answered once
    assert await question.count() == 1


async def test_a_message_still_unsent_when_the_page_is_reloaded_is_sent_after_the_reload(page: Page, site: str) -> None:
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/chat/api/" in r.url else None)
    visitor = await open_chat(page, site)
    await page.route("**/chat/api/messages*", lambda route: route.abort("internetdisconnected"))  # offline
    await say(page, "Are you open on Sunday?")
    await page.locator(".pending .status", has_text="Not sent yet").wait_for()
    await page.unroute("**/chat/api/messages*")
    await page.reload()
    await page.locator(".msg.in:not(.pending)", has_text="Are you open on Sunday?").wait_for()

    client_ids = {t["client_id"] for t in posts_of(requests, "Are you open on Sunday?")}
    assert len(client_ids) == 1  # the same message, not a new one
    stored = [m["text"] for m in await transcript(site, visitor) if m["direction"] == "in"]
    assert stored == ["/start", "Are you open on Sunday?"]


async def test_a_429_shows_a_polite_notice_and_the_message_goes_through_after_retry_after(
    page: Page, tight_site: str
) -> None:
    answers: list[tuple[int, str | None]] = []
    page.on("response", lambda r: answers.append((r.status, r.headers.get("retry-after"))) if r.request.method ==
            "POST" else None)  # fmt: skip
    visitor = await open_chat(page, tight_site)  # the greeting's /start took one of the two
    await say(page, "hi")
    await say(page, "Ana")
    await page.locator("#notice", has_text=POLITE).wait_for()
    await screenshot(page, "webchat-rate-limited.png")
    await page.locator(".msg.in:not(.pending)", has_text="Ana").wait_for(timeout=10_000)
    await page.locator("#notice").wait_for(state="hidden")

    assert [status for status, _ in answers].count(429) >= 1
    assert {after for status, after in answers if status == 429} <= {"1", "2", "3"}
    said = [m["text"] for m in await transcript(tight_site, visitor) if m["direction"] == "in"]
    assert said == ["/start", "hi", "Ana"]  # in order, each once
    await screenshot(page, "webchat.png")
