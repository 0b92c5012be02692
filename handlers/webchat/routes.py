"""Web chat routes: the page, sending a message, and polling for new ones (history, proactive)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.conversations.transcript import messages_after
from bot.messages import ChannelRef, Inbound, Reply, reply_to_dict
from bot.storage.database import Database

CHANNEL = "web"
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
MESSAGE_ID = re.compile(r"[0-9]{1,18}")
MAX_BODY = 64 * 1024
MAX_MESSAGE_ID = 2**31 - 1  # messages.id is a 32-bit integer; a larger `after` would overflow the query


class MessageHandler(Protocol):
    """What the web chat needs of the core: the engine, or a wrapper of it (metrics)."""

    async def handle(self, inbound: Inbound) -> list[Reply]: ...


class WebChatChannel:
    """Proactive messages are already in the transcript; the page polls for them, so sending is a no-op."""

    name = CHANNEL

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        return None


def webchat_routes(engine: MessageHandler, db: Database, title: str) -> list[Route]:
    page = files("handlers.webchat").joinpath("static/chat.html").read_text(encoding="utf-8")
    page = page.replace("{{TITLE}}", _html_escape(title))

    async def chat_page(_request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def post_message(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            return _error(413, f"message too large (over {MAX_BODY} bytes)")
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: deeply nested arrays such as [[[[...]]]]
            return _error(400, "body must be JSON")
        if not isinstance(data, dict):
            return _error(400, "body must be a JSON object")
        visitor = data.get("visitor")
        # fullmatch: with match and `$`, a visitor id ending in a newline would pass.
        if not isinstance(visitor, str) or not VISITOR_ID.fullmatch(visitor):
            return _error(400, "visitor must be 16-64 characters of A-Z a-z 0-9 _ -")
        text, choice, name = data.get("text"), data.get("choice"), data.get("name")
        if text is not None and not isinstance(text, str):
            return _error(400, "text must be a string")
        if choice is not None and not isinstance(choice, str):
            return _error(400, "choice must be a string")
        if text is None and choice is None:
            return _error(400, "send text or choice")
        message_id = data.get("client_id")
        inbound = Inbound(
            channel=CHANNEL, address=visitor, text=text, choice=choice[:200] if choice else None,
            message_id=f"{visitor}:{message_id}"[:100] if isinstance(message_id, str) and message_id else None,
            display_name=name[:200] if isinstance(name, str) and name.strip() else None,
        )  # fmt: skip
        replies = await engine.handle(inbound)
        return JSONResponse({"replies": [reply_to_dict(r) for r in replies]})

    async def get_messages(request: Request) -> Response:
        visitor = request.query_params.get("visitor", "")
        if not VISITOR_ID.fullmatch(visitor):
            return _error(400, "visitor must be 16-64 characters of A-Z a-z 0-9 _ -")
        after_raw = request.query_params.get("after", "0")
        # ASCII digits only: str.isdigit() accepts "²", which int() then refuses.
        if not MESSAGE_ID.fullmatch(after_raw):
            return _error(400, "after must be a message id (a whole number)")
        after = min(int(after_raw), MAX_MESSAGE_ID)
        rows = await messages_after(db, ChannelRef(CHANNEL, visitor), after)
        messages: list[dict[str, Any]] = []
        for m in rows:
            item: dict[str, Any] = {"id": m.id, "direction": m.direction, "text": m.text or ""}
            if m.direction == "out":
                item.update(reply_to_dict(Reply(m.text or "")) | (m.payload or {}))
            elif (m.payload or {}).get("media"):
                item["media"] = m.payload["media"]
            messages.append(item)
        return JSONResponse({"messages": messages})

    return [
        Route("/chat", chat_page, methods=["GET"]),
        Route("/chat/api/messages", post_message, methods=["POST"]),
        Route("/chat/api/messages", get_messages, methods=["GET"]),
    ]


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_BODY; stops reading there rather than buffering it all."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
