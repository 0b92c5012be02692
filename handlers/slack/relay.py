"""Thread relay: what staff write in a ticket's thread reaches the customer ("Name: text"); a reply marked as a note
(`note:`, `*note:*`, `[internal]`...) stays internal, and one that might be a note is held and its author asked, with
Send to customer / Keep internal buttons (handlers/slack/notes.py). Everything else in Slack (other threads, bots,
edits) is left alone."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import Core
from handlers.slack import notes
from handlers.slack.blocks import plain, section
from handlers.slack.dedupe import Seen
from handlers.slack.mrkdwn import quote, to_plain, truncate
from handlers.slack.staff import member, refusal, tell

log = logging.getLogger(__name__)
SEND_HELD = "held_reply_send"  # the author's buttons under a reply held back as a possible note
KEEP_HELD = "held_reply_keep"
HELD_ACTIONS = "held_reply"
ASKED = ("*Not sent to the customer yet:* this reply looks like it might be an internal note.\n{quote}\n"
         "Send it to the customer, or keep it as an internal note? (Start a reply with `note:` to keep it internal "
         "without being asked.)")  # fmt: skip
DECIDED = {True: ":white_check_mark: Sent to the customer.", False: ":memo: Kept as an internal note."}
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


def held_question(ref: str, held_id: int, text: str) -> tuple[str, list[dict[str, Any]]]:
    """What the author of a held reply sees (fallback text, blocks): their words and the two buttons."""
    question = ASKED.format(quote=quote(truncate(text, 2500)))
    value = f"{ref}:{held_id}"
    buttons = [
        {"type": "button", "action_id": SEND_HELD, "text": plain("Send to customer"), "value": value,
         "style": "primary"},
        {"type": "button", "action_id": KEEP_HELD, "text": plain("Keep internal"), "value": value},
    ]  # fmt: skip
    return question, [section(question), {"type": "actions", "block_id": HELD_ACTIONS, "elements": buttons}]


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
        ref = await core.ticket_queries.ref_by_thread(channel, event["thread_ts"])
        if ref is None:
            return  # a thread that is not a ticket's
        user = event["user"]
        staff = member(settings, user)
        if staff is None:
            await tell(client, channel, user, OUTSIDER_HINT.format(user=user), thread_ts=event["thread_ts"])
            return
        verdict = notes.classify(to_plain(event["text"], names.get))
        source = f"slack:{channel}:{ts}"  # replays are refused by the core too, across instances
        if verdict.kind == "note":
            outcome = await core.tickets.note(ref, staff.key, verdict.text, source_id=source)
        elif verdict.kind == "unsure":
            outcome = await core.tickets.hold(ref, staff.key, verdict.text, source_id=source)
            if outcome.ok and outcome.held_id is not None:
                text, blocks = held_question(ref, outcome.held_id, verdict.text)
                await tell(client, channel, user, text, thread_ts=event["thread_ts"], blocks=blocks)
        else:
            outcome = await core.tickets.reply(ref, staff.key, verdict.text, source_id=source)
        if outcome.ok:
            kick()
        else:
            await tell(client, channel, user, f"Not sent: {outcome.message}.", thread_ts=event["thread_ts"])

    async def decide(send: bool, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        thread = (body.get("container") or {}).get("thread_ts")
        staff = member(settings, user)
        if staff is None:
            await tell(client, channel, user, refusal(user))
            return
        ref, _, held = str(body["actions"][0].get("value") or "").rpartition(":")
        if not (held.isascii() and held.isdigit() and len(held) <= 10):
            log.warning("held-reply button with a malformed value from %s: %r", user, body["actions"][0].get("value"))
            return
        outcome = await core.tickets.release(ref, staff.key, int(held), send=send)
        if not outcome.ok:
            await tell(client, channel, user, f"Not done: {outcome.message}.", thread_ts=thread)
            return
        kick()
        try:
            await respond(replace_original=True, text=DECIDED[send])
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("the held-reply question of %s was not updated: %s", ref, exc)

    @app.action(SEND_HELD)
    async def send_held(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        await decide(True, body, client, respond)

    @app.action(KEEP_HELD)
    async def keep_held(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        await decide(False, body, client, respond)
