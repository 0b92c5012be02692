"""Every request body bounded before any route sees it: a declared size over the limit is refused unread, a
streamed one as soon as it passes the limit, so no request makes the process hold more than its limit.

Routes read bodies as usual (`await request.body()`), and only when they need them: one that refuses a request
first (a wrong key, a rate limit) reads nothing. What they read is counted here as it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handlers.ratelimit import RefusalLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BodyLimits:
    """The limit in bytes for each path: the longest matching prefix in `by_prefix`, else `default`."""

    default: int
    by_prefix: Mapping[str, int]

    def for_path(self, path: str) -> int:
        best, limit = -1, self.default
        for prefix, value in self.by_prefix.items():
            base = prefix.rstrip("/")
            # By whole segments: "/chat" covers /chat and /chat/api/messages, not /chatter.
            if (path == base or path.startswith(base + "/")) and len(base) > best:
                best, limit = len(base), value
        return limit


class BodyTooLarge(Exception):
    """Raised to the app by `receive` once the body passes the limit; the middleware answers 413."""


class BodyLimit:
    """Plain ASGI middleware counting the body the app reads; past the limit the app's read fails and the client
    gets 413. Any answer given before the whole body arrived closes the connection: keeping it would mean receiving,
    and discarding, everything the client still sends."""

    def __init__(self, app: ASGIApp, limits: BodyLimits):
        self.app = app
        self.limits = limits
        self.refusals = RefusalLog(log)  # anyone can send big bodies: a flood of them is a few lines, not one each

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit, f"declared {declared} bytes")
            return
        received = 0
        exceeded = started = False
        complete = not _has_body(scope, declared)

        async def counted() -> Message:
            nonlocal received, exceeded, complete
            if exceeded:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not complete:
                    MutableHeaders(scope=message)["Connection"] = "close"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not exceeded:  # whatever the app made of the failed read (re-raised or wrapped), it was the size
                raise
        if exceeded:
            if started:
                client = _client(scope)
                self.refusals.refused((scope["path"], client), 0, "request body over %d bytes cut off: %s %s from %s",
                                      limit, scope["method"], scope["path"], client)  # fmt: skip
            else:
                await self._refuse(scope, receive, send, limit, "streamed")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int, how: str) -> None:
        client = _client(scope)
        self.refusals.refused((scope["path"], client), 0, "request body over %d bytes (%s) refused: %s %s from %s",
                              limit, how, scope["method"], scope["path"], client)  # fmt: skip
        response = JSONResponse({"error": f"body too large (over {limit} bytes)"}, status_code=413,
                                headers={"Connection": "close"})  # fmt: skip
        await response(scope, receive, send)


def _client(scope: Scope) -> str:
    return str((scope.get("client") or ("-", 0))[0])


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server already refused a malformed one; digits only here all the same (int() takes "_" and " "),
            # and no int() of thousands of digits (it raises): anything that long is over every limit.
            if not value.isdigit():
                return None
            return int(value) if len(value) <= 18 else 10**18
    return None


def _has_body(scope: Scope, declared: int | None) -> bool:
    if declared is not None:
        return declared > 0
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])
