"""Security headers: the chat page carries a CSP that allows exactly its own inline script and style (by hash) and
says who may frame it; every answer carries nosniff and a referrer policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.config import Settings
from handlers.securityheaders import SecurityHeaders
from handlers.server import build_app
from tests.conftest import FixedClock, make_settings
from tests.support.botapi_standin import serve_asgi
from tests.support.csp import InlineBlocks, directives, sha256_source


@pytest.fixture
async def chat(tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock, request: pytest.FixtureRequest
               ) -> AsyncIterator[httpx.AsyncClient]:  # fmt: skip
    webchat = getattr(request, "param", {})
    settings: Settings = make_settings(tmp_path, database_url, flows_dir, webchat={"title": "Help <desk>", **webchat})
    app = build_app(settings, clock=clock, background=False)
    async with app.router.lifespan_context(app), serve_asgi(app) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def test_the_chat_page_allows_its_own_inline_script_and_style_and_nothing_else(
    chat: httpx.AsyncClient,
) -> None:
    page = await chat.get("/chat")
    parser = InlineBlocks()
    parser.feed(page.text)
    policy = directives(page.headers["content-security-policy"])

    assert parser.blocks["script"] and parser.blocks["style"]
    assert policy["script-src"] == ["'self'", *(sha256_source(b) for b in parser.blocks["script"])]
    assert policy["style-src"] == ["'self'", *(sha256_source(b) for b in parser.blocks["style"])]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert (policy["object-src"], policy["base-uri"], policy["frame-ancestors"]) == (["'none'"], ["'none'"], ["'self'"])
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("chat", [{"frame_ancestors": ["https://shop.example.com", "https://*.example.org"]}],
                         indirect=True)  # fmt: skip
async def test_sites_named_in_the_settings_may_embed_the_chat(chat: httpx.AsyncClient) -> None:
    page = await chat.get("/chat")

    frames = directives(page.headers["content-security-policy"])["frame-ancestors"]
    assert frames == ["'self'", "https://shop.example.com", "https://*.example.org"]
    assert "x-frame-options" not in page.headers  # it cannot list origins: it would forbid what the CSP allows


async def test_json_answers_get_nosniff_and_no_referrer_but_no_page_policy(chat: httpx.AsyncClient) -> None:
    for answer in (await chat.get("/healthz"), await chat.get("/chat/api/messages"), await chat.get("/nowhere")):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "content-security-policy" not in answer.headers


async def test_other_pages_are_never_framed_by_other_sites_and_an_injected_script_is_not_allowed() -> None:
    trusted = "<p>hi</p><script>ours()</script>"

    async def page(request: Request) -> Response:
        injected = request.query_params.get("name", "")  # a page that (wrongly) echoes what it is given
        return HTMLResponse(f"{trusted}<p>{injected}</p>")

    middleware = Middleware(SecurityHeaders, trusted_pages=[trusted], embeddable=["/chat"],
                            frame_ancestors=["https://shop.example.com"])  # fmt: skip
    app = Starlette(routes=[Route("/admin", page)], middleware=[middleware])
    async with serve_asgi(app) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await http.get("/admin", params={"name": "<script>steal()</script>"})

    policy = directives(answer.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'", sha256_source("ours()")]
    assert policy["frame-ancestors"] == ["'self'"]
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
