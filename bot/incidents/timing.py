"""When the next update comes, as people write it: a moment (2026-12-04 18:00, with or without an offset; without
one it is the business's local time) or a delay from now (2h, 90m, 1d 4h)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.conversations.schema import parse_duration


def parse_moment(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The moment `text` names; ValueError saying how to write one otherwise."""
    value = text.strip()
    try:
        delay = parse_duration(value)
    except ValueError:
        delay = None
    if delay is not None and delay > timedelta(0):
        return now + delay
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a moment: write 2026-12-04 18:00 (business time), an ISO moment with an "
                         "offset, or a delay like 2h or 90m") from None  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
