"""Web chat routes: the page, sending a message, and polling for new ones (history, proactive).

The visitor id is a random token the page keeps in localStorage; whoever has it reads that transcript, so on GET the
page sends it in the X-Engagebot-Visitor header rather than the query string (which proxies and access logs
record). `?visitor=` is still accepted: it is the documented contract.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.config import WebchatRateLimits
from bot.messages import ChannelRef, Inbound, Reply, reply_to_dict
from bot.transcript import TranscriptEntry, Transcripts
from handlers.webchat.limits import WebChatLimits

CHANNEL = "web"
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
MESSAGE_ID = re.compile(r"[0-9]{1,18}")
MAX_MESSAGE_ID = 2**31 - 1  # messages.id is a 32-bit integer; a larger `after` would overflow the query
VISITOR_HEADER = "X-Engagebot-Visitor"
BAD_VISITOR = "visitor must be 16-64 characters of A-Z a-z 0-9 _ -"
# The answer to a poll depends on the visitor header: no cache may keep it, or hand one visitor's to another.
POLL_HEADERS = {"Cache-Control": "no-store", "Vary": VISITOR_HEADER}


class MessageHandler(Protocol):
    """What the web chat needs of the core: the engine, or a wrapper of it (metrics)."""

    async def handle(self, inbound: Inbound) -> list[Reply]: ...


class WebChatChannel:
    """Proactive messages are already in the transcript; the page polls for them, so sending is a no-op."""

    name = CHANNEL
    reads_transcript = True

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        return None


def webchat_routes(
    engine: MessageHandler, transcripts: Transcripts, title: str, limits: WebchatRateLimits | None = None
) -> list[Route]:
    """The page and its API; `limits` (webchat.rate_limits) defaults to the settings' defaults."""
    page = chat_page_html(title)

    async def is_known_visitor(visitor: str) -> bool:
        """A visitor the bot has a conversation with."""
        return await transcripts.exists(ChannelRef(CHANNEL, visitor))

    guard = WebChatLimits(limits or WebchatRateLimits(), is_known_visitor)

    async def chat_page(_request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def post_message(request: Request) -> Response:
        client = guard.client(request)
        refused = guard.message_from(client)  # before the body is read: a flood costs as little as possible
        if refused is not None:
            return refused
        body = await request.body()  # bounded as it streams in (handlers.bodylimit: /chat, 64 KiB by default)
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: deeply nested arrays such as [[[[...]]]]
            return _error(400, "body must be JSON")
        if not isinstance(data, dict):
            return _error(400, "body must be a JSON object")
        visitor = data.get("visitor")
        # fullmatch: with match and `$`, a visitor id ending in a newline would pass.
        if not isinstance(visitor, str) or not VISITOR_ID.fullmatch(visitor):
            return _error(400, BAD_VISITOR)
        text, choice, name = data.get("text"), data.get("choice"), data.get("name")
        if text is not None and not isinstance(text, str):
            return _error(400, "text must be a string")
        if choice is not None and not isinstance(choice, str):
            return _error(400, "choice must be a string")
        if text is None and choice is None:
            return _error(400, "send text or choice")
        refused = await guard.message_by(client, visitor)
        if refused is not None:
            return refused
        message_id = data.get("client_id")
        inbound = Inbound(
            channel=CHANNEL, address=visitor, text=text, choice=choice[:200] if choice else None,
            message_id=f"{visitor}:{message_id}"[:100] if isinstance(message_id, str) and message_id else None,
            display_name=name[:200] if isinstance(name, str) and name.strip() else None,
        )  # fmt: skip
        replies = await engine.handle(inbound)
        return JSONResponse({"replies": [reply_to_dict(r) for r in replies]})

    async def get_messages(request: Request) -> Response:
        client = guard.client(request)
        refused = guard.poll_from(client)
        if refused is not None:
            return refused
        visitor = _visitor_of(request)
        if visitor is None:
            return _error(400, f"{BAD_VISITOR} (send it in the {VISITOR_HEADER} header, or ?visitor=)")
        after_raw = request.query_params.get("after", "0")
        # ASCII digits only: str.isdigit() accepts "²", which int() then refuses.
        if not MESSAGE_ID.fullmatch(after_raw):
            return _error(400, "after must be a message id (a whole number)")
        refused = guard.poll_by(visitor)
        if refused is not None:
            return refused
        after = min(int(after_raw), MAX_MESSAGE_ID)
        entries = await transcripts.after(ChannelRef(CHANNEL, visitor), after)
        messages = [_message_json(entry, visitor) for entry in entries]
        return JSONResponse({"messages": messages}, headers=POLL_HEADERS)

    return [
        Route("/chat", chat_page, methods=["GET"]),
        Route("/chat/api/messages", post_message, methods=["POST"]),
        Route("/chat/api/messages", get_messages, methods=["GET"]),
    ]


def _message_json(entry: TranscriptEntry, visitor: str) -> dict[str, Any]:
    """One transcript message as the page reads it."""
    item: dict[str, Any] = {"id": entry.id, "direction": entry.direction, "text": entry.text or ""}
    if entry.direction == "out":
        item.update(reply_to_dict(Reply(entry.text or "")) | entry.payload)
    else:
        if entry.payload.get("media"):
            item["media"] = entry.payload["media"]
        own_prefix = f"{visitor}:"
        if entry.platform_message_id and entry.platform_message_id.startswith(own_prefix):
            # The page's own client_id: it knows a message it is still retrying has arrived after all.
            item["client_id"] = entry.platform_message_id.removeprefix(own_prefix)
    return item


def chat_page_html(title: str) -> str:
    """The chat page as served; its inline script and style are what the CSP's hashes allow (server.py)."""
    page = files("handlers.webchat").joinpath("static/chat.html").read_text(encoding="utf-8")
    return page.replace("{{TITLE}}", _html_escape(title))


def _visitor_of(request: Request) -> str | None:
    """The visitor id from the header, else from ?visitor=; None when missing, malformed, or the two disagree."""
    header = request.headers.get(VISITOR_HEADER)
    query = request.query_params.get("visitor")
    if header is not None and query is not None and header != query:
        return None
    visitor = header if header is not None else query
    return visitor if visitor is not None and VISITOR_ID.fullmatch(visitor) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
