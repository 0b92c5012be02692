"""Request bodies are bounded for every route: refused with 413 at the limit, whether declared or streamed, and
a route that does not read the body never makes the server receive it. Over real HTTP (uvicorn)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.bodylimit import BodyLimit, BodyLimits
from tests.support.botapi_standin import serve_asgi
from tests.support.upload import post_streaming

LIMITS = BodyLimits(10_000, {"/small": 1_000, "/api": 5_000, "/api/big/": 20_000})


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/", 10_000),
        ("/small", 1_000),
        ("/small/deeper/path", 1_000),
        ("/smaller", 10_000),  # whole segments only
        ("/api", 5_000),
        ("/api/events", 5_000),
        ("/api/big", 20_000),  # the longest prefix wins; a trailing / in the setting changes nothing
        ("/api/big/upload", 20_000),
    ],
)
def test_each_path_gets_the_limit_of_its_longest_prefix(path: str, limit: int) -> None:
    assert LIMITS.for_path(path) == limit


class Recorder:
    """The routes behind the middleware, and what they saw."""

    def __init__(self) -> None:
        self.bodies: list[int] = []
        self.entered = 0

    async def echo(self, request: Request) -> Response:
        self.entered += 1
        body = await request.body()
        self.bodies.append(len(body))
        return JSONResponse({"size": len(body)})

    async def refuse_unread(self, _request: Request) -> Response:
        self.entered += 1
        return JSONResponse({"error": "no key"}, status_code=401)


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    routes = [Route("/small/echo", recorder.echo, methods=["POST", "GET"]),
              Route("/echo", recorder.echo, methods=["POST", "GET"]),
              Route("/locked", recorder.refuse_unread, methods=["POST"])]  # fmt: skip
    app = Starlette(routes=routes, middleware=[Middleware(BodyLimit, limits=LIMITS)])
    async with serve_asgi(app) as url:
        yield url, recorder


async def test_a_body_up_to_the_limit_reaches_the_route_whole(served: tuple[str, Recorder]) -> None:
    url, _ = served
    async with httpx.AsyncClient(base_url=url) as http:
        declared = await http.post("/small/echo", content=b"x" * 1_000)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 100

        streamed = await http.post("/small/echo", content=chunks())

    assert (declared.status_code, declared.json(), streamed.json()) == (200, {"size": 1_000}, {"size": 1_000})
    assert "connection" not in declared.headers  # the connection is kept for the next request


async def test_a_declared_size_over_the_limit_is_refused_before_the_route_runs(
    served: tuple[str, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    url, recorder = served
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.post("/small/echo", content=b"x" * 1_001)

    assert (answer.status_code, answer.json()) == (413, {"error": "body too large (over 1000 bytes)"})
    assert answer.headers["connection"] == "close"
    assert recorder.entered == 0
    assert [r.getMessage() for r in caplog.records if r.name == "handlers.bodylimit"] == [
        "request body over 1000 bytes (declared 1001 bytes) refused: POST /small/echo from 127.0.0.1"
    ]


async def test_a_streamed_body_is_refused_as_it_passes_the_limit_and_the_rest_is_not_received(
    served: tuple[str, Recorder],
) -> None:
    url, recorder = served
    answer = await asyncio.to_thread(post_streaming, f"{url}/echo", total=200_000_000, chunk=4096)

    assert (answer.status, answer.json()) == (413, {"error": "body too large (over 10000 bytes)"})
    assert answer.headers["connection"] == "close"
    assert recorder.bodies == []  # the route's read failed: it never saw a body
    # Socket buffers hold a few megabytes; the rest of the 200 MB was never sent.
    assert answer.sent < 20_000_000


async def test_a_route_that_answers_without_reading_closes_the_connection_instead_of_receiving_the_rest(
    served: tuple[str, Recorder],
) -> None:
    url, recorder = served
    answer = await asyncio.to_thread(post_streaming, f"{url}/locked", total=200_000_000, chunk=4096)

    assert (answer.status, answer.headers["connection"]) == (401, "close")
    assert answer.sent < 20_000_000
    assert recorder.entered == 1
    async with httpx.AsyncClient(base_url=url) as http:  # bodiless requests keep their connection
        assert "connection" not in (await http.get("/echo")).headers
