"""Thread relay: what staff write in a ticket's thread reaches the customer ("Name: text"); a line starting with
`note:` stays internal. Everything else in Slack (other threads, bots, edits) is left alone."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import Core
from handlers.slack import lookup
from handlers.slack.dedupe import Seen
from handlers.slack.mrkdwn import to_plain
from handlers.slack.staff import member, tell

log = logging.getLogger(__name__)
NOTE = re.compile(r"^\s*note\s*:\s*", re.IGNORECASE)
# Subtypes that are still a person writing in the thread; every other subtype (edits, joins, bots) is not.
PERSON_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
OUTSIDER_HINT = ("Only people in the staff directory can answer customers here, so your message was not sent. "
                 "Ask an admin to add your Slack user id (`{user}`) under `staff:` in config.yaml.")  # fmt: skip


def is_thread_reply(event: Mapping[str, Any]) -> bool:
    """A person's message inside a thread (not the thread's first message, not a bot, not an edit)."""
    thread_ts = event.get("thread_ts")
    return (
        event.get("subtype") in PERSON_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(thread_ts)
        and thread_ts != event.get("ts")
        and bool((event.get("text") or "").strip())
    )


def split_note(text: str) -> tuple[bool, str]:
    """(is it an internal note, the text without the `note:` marker)."""
    match = NOTE.match(text)
    return (True, text[match.end() :]) if match else (False, text)


def register(app: AsyncApp, core: Core, kick: Callable[[], None], seen: Seen) -> None:
    settings = core.settings
    names = {m.slack_user_id: m.name for m in settings.staff if m.slack_user_id}

    @app.event("message")
    async def on_message(event: dict[str, Any], client: AsyncWebClient) -> None:
        if not is_thread_reply(event):
            return
        channel, ts = event["channel"], event["ts"]
        if not seen.first_time(f"message:{channel}:{ts}"):
            log.info("Slack message %s in %s seen before: not relayed again", ts, channel)
            return
        ref = await lookup.ticket_ref_by_thread(core, channel, event["thread_ts"])
        if ref is None:
            return  # a thread that is not a ticket's
        user = event["user"]
        staff = member(settings, user)
        if staff is None:
            await tell(client, channel, user, OUTSIDER_HINT.format(user=user), thread_ts=event["thread_ts"])
            return
        internal, text = split_note(to_plain(event["text"], names.get))
        source = f"slack:{channel}:{ts}"  # replays are refused by the core too, across instances
        if internal:
            outcome = await core.tickets.note(ref, staff.key, text, source_id=source)
        else:
            outcome = await core.tickets.reply(ref, staff.key, text, source_id=source)
        if outcome.ok:
            kick()
        else:
            await tell(client, channel, user, f"Not sent: {outcome.message}.", thread_ts=event["thread_ts"])
