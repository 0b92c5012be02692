"""The last resort for a request that raised: a 500 in JSON and exactly one log line, instead of the server's
traceback (about sixty lines, which may quote request data, e.g. a header in the exception's message).

Bad input must never get here: each route answers it with a 4xx. This catches what slipped through, and what is
not the client's fault (a database gone mid-request); the line names the code that raised so it can be fixed. A
client that hangs up mid-body is nobody's fault: no answer, one DEBUG line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class LastResort:
    """Plain ASGI middleware: an exception from the app becomes a 500 JSON answer (if no answer began yet)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan errors must still stop the server
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except ClientDisconnect:
            # The client hung up while sending its body (a dropped upload, a closed tab): nobody is left to answer,
            # and nothing went wrong here. An ERROR line for it would let anyone fill the log.
            log.debug("client hung up while sending %s %s", scope["method"], scope["path"])
        except Exception as exc:
            # Type and place only: the message and the traceback may carry what the client sent.
            log.error("unhandled %s at %s in %s %s: answered 500", type(exc).__name__, where(exc.__traceback__),
                      scope["method"], scope["path"])  # fmt: skip
            # The whole story only for whoever asked for it (`engagebot -v run`); masked like every record.
            log.debug("traceback of that 500", exc_info=exc)
            if not started:
                response = JSONResponse({"error": "internal error; it has been logged"}, status_code=500)
                await response(scope, receive, send)


def where(tb: TracebackType | None) -> str:
    """file:line of the innermost frame, the file relative to its package folder (never an absolute path)."""
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = Path(tb.tb_frame.f_code.co_filename)
    return f"{'/'.join(path.parts[-2:])}:{tb.tb_lineno}"
