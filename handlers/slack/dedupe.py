"""Slack delivers an event again when it thinks we missed it (X-Slack-Retry-Num) and bolt does not notice:
a bounded memory of what was already seen turns the repeats into no-ops."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)


class Seen:
    """A bounded set, oldest forgotten first. In one process only: see docs/slack.md for several instances."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """True the first time `key` is offered, False on every repeat (while it is remembered)."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True


class IgnoreRepeatedEvents(AsyncMiddleware):
    """Answers 200 and does nothing for an Events API delivery whose event_id was already handled."""

    def __init__(self, seen: Seen):
        self.seen = seen

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        body = req.body or {}
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self.seen.first_time(f"event:{event_id}"):
            retry = req.headers.get("x-slack-retry-num")
            log.info("Slack event %s delivered again (retry %s): ignored", event_id, retry[0] if retry else "-")
            return BoltResponse(status=200, body="")
        return await next()
