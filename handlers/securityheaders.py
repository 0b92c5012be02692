"""Security headers on every response: no MIME sniffing, no referrer, and on HTML pages a Content-Security-Policy
that allows only our own scripts and styles and says who may show the page in a frame.

Inline <script> and <style> blocks are allowed by their sha256 hashes, computed once at start-up from the pages we
ship (`trusted_pages`), never from a response: a script injected into a page would not match and is not run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_INLINE = {
    # A <script> with a src loads a file (allowed by 'self'); only inline code needs a hash.
    "script": re.compile(r"<script(?![^>]*\ssrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL),
    "style": re.compile(r"<style[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL),
}


def inline_hashes(pages: Iterable[str]) -> dict[str, list[str]]:
    """CSP hash sources ('sha256-...') of every inline script and style in `pages`, by kind."""
    found: dict[str, list[str]] = {kind: [] for kind in _INLINE}
    for page in pages:
        for kind, pattern in _INLINE.items():
            for block in pattern.findall(page):
                # Browsers hash the text as parsed: line breaks normalised to \n.
                digest = hashlib.sha256(block.replace("\r\n", "\n").replace("\r", "\n").encode()).digest()
                source = f"'sha256-{base64.b64encode(digest).decode()}'"
                if source not in found[kind]:
                    found[kind].append(source)
    return found


def content_security_policy(hashes: dict[str, list[str]], frame_ancestors: Iterable[str]) -> str:
    scripts = " ".join(["'self'", *hashes.get("script", [])])
    styles = " ".join(["'self'", *hashes.get("style", [])])
    frames = " ".join(["'self'", *frame_ancestors])
    return (f"default-src 'self'; script-src {scripts}; style-src {styles}; img-src 'self' data:; "
            f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            f"frame-ancestors {frames}")  # fmt: skip


class SecurityHeaders:
    """Plain ASGI middleware. Pages under `embeddable` (the web chat) may be framed by the `frame_ancestors`
    origins as well as by this server; every other page only by this server."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_pages: Iterable[str] = (),
        embeddable: Iterable[str] = (),
        frame_ancestors: Iterable[str] = (),
    ):
        self.app = app
        hashes = inline_hashes(trusted_pages)
        self.embeddable = tuple(prefix.rstrip("/") for prefix in embeddable)
        self.frame_ancestors = tuple(frame_ancestors)
        self.policy = content_security_policy(hashes, ())
        self.embeddable_policy = content_security_policy(hashes, self.frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        embeddable = any(scope["path"] == p or scope["path"].startswith(p + "/") for p in self.embeddable)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if headers.get("content-type", "").startswith("text/html"):
                    framed_by_others = embeddable and bool(self.frame_ancestors)
                    headers["Content-Security-Policy"] = self.embeddable_policy if embeddable else self.policy
                    if not framed_by_others:
                        # For browsers without frame-ancestors; it cannot list origins, so only when none is allowed.
                        headers["X-Frame-Options"] = "SAMEORIGIN"
            await send(message)

        await self.app(scope, receive, with_headers)
