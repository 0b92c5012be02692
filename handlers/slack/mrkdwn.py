"""Slack's text format both ways: customer words escaped into mrkdwn, staff mrkdwn turned into plain text."""

from __future__ import annotations

import re
from collections.abc import Callable

_SPECIAL = re.compile(r"<([^<>]*)>")
_BROADCASTS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def escape(text: str) -> str:
    """Text a customer wrote, safe inside mrkdwn: `<!channel>` or `<@U1>` typed by a customer pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str | None, fallback: str = "nobody") -> str:
    return f"<@{user_id}>" if user_id else fallback


def quote(text: str) -> str:
    """Escaped and quoted line by line (`>`), for a customer's words in a thread."""
    return "\n".join(f">{escape(line)}" for line in (text or " ").splitlines() or [" "])


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def to_plain(text: str, name_of: Callable[[str], str | None] = lambda _user: None) -> str:
    """What a staff member typed in Slack, as the customer should read it: mentions become names, links
    their address, entities plain characters."""

    def replace(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            name = name_of(target[1:]) or label
            return f"@{name}" if name else "@someone"
        if target.startswith("#"):
            return f"#{label}" if label else "#channel"
        if target.startswith("!"):
            word = target[1:].split("^", 1)[0]
            return _BROADCASTS.get(word, label or "")
        address = target.removeprefix("mailto:")
        return address if not label or label == address else f"{label} ({address})"

    plain = _SPECIAL.sub(replace, text or "")
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
