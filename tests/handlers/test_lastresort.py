"""A request that raises gets a 500 in JSON and exactly one log line naming the error and the path, never the
server's traceback (which may quote what the client sent), and the server keeps answering."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from handlers.bodylimit import BodyLimit, BodyLimits
from handlers.lastresort import LastResort
from tests.support.botapi_standin import serve_asgi
from tests.support.upload import post_and_hang_up


async def explode(request: Request) -> Response:
    raise ValueError(f"invalid literal for int(): {request.headers.get('x-token')!r}")


async def fine(_request: Request) -> Response:
    return PlainTextResponse("fine")


async def test_an_unhandled_error_is_a_json_500_with_one_log_line_and_no_request_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Starlette(routes=[Route("/boom", explode), Route("/fine", fine)], middleware=[Middleware(LastResort)])
    caplog.set_level(logging.DEBUG)
    async with serve_asgi(app) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await http.get("/boom", headers={"X-Token": "s3cr3t-from-the-client"})
        after = await http.get("/fine")

    assert (answer.status_code, answer.json()) == (500, {"error": "internal error; it has been logged"})
    assert after.text == "fine"
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    line = logged[0].getMessage()
    assert line.startswith("unhandled ValueError at handlers/test_lastresort.py:")
    assert line.endswith(" in GET /boom: answered 500")
    assert logged[0].exc_info is None
    assert "s3cr3t" not in "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    # The traceback, which may quote what the client sent, only for whoever runs with -v (DEBUG).
    (traceback,) = [r for r in caplog.records if r.exc_info is not None]
    assert traceback.levelno == logging.DEBUG


async def test_a_client_that_hangs_up_mid_upload_gets_no_answer_and_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anyone could fill the ERROR log by dropping uploads: each was `unhandled ClientDisconnect ...: answered 500`."""
    finished = asyncio.Event()

    async def read_all(request: Request) -> Response:
        return PlainTextResponse(f"{len(await request.body())} bytes")

    inner = Starlette(
        routes=[Route("/upload", read_all, methods=["POST"]), Route("/fine", fine)],
        middleware=[Middleware(LastResort), Middleware(BodyLimit, limits=BodyLimits(10_000, {}))],
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await inner(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope["path"] == "/upload":
                finished.set()

    caplog.set_level(logging.DEBUG)
    async with serve_asgi(app) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await asyncio.to_thread(post_and_hang_up, f"{url}/upload", declared=1_000, send=300)
        await asyncio.wait_for(finished.wait(), timeout=10)
        after = await http.get("/fine")

    assert answer == b""  # nobody to answer: no 500 sent into the void
    assert after.text == "fine"
    ours = [r for r in caplog.records if r.name.startswith("handlers.")]
    assert [r.levelname for r in ours] == ["DEBUG"], [r.getMessage() for r in ours]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
