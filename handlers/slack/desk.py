"""The StaffDesk port on Slack: each ticket notice is posted where the ticket lives (its escalation message and
thread); any failure to reach Slack becomes a DeliveryError, so the outbox keeps the notice and retries it."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import StaffMember
from bot.ports import DeliveryError
from bot.tickets.staffdesk import DeskThread, StaffDigest, StaffNotice, StaffNoticeKind
from bot.tickets.views import Person, TicketView
from handlers.slack.blocks import JSON, assignee_dm, reassigned_dm, ticket_message
from handlers.slack.digest import assignee_message, summary_message
from handlers.slack.mrkdwn import escape
from handlers.slack.notices import earlier_text, redraws_root, thread_text

log = logging.getLogger(__name__)

# Slack will never take this request as it is: retrying the same call is pointless.
REQUEST_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
                            "too_many_attachments"})  # fmt: skip
# The bot cannot post there (not invited, archived, deleted): the assignee's DM stands in.
PLACE_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "thread_not_found"})
# The escalation message cannot be redrawn; the thread post already told everyone, so this is only logged.
REDRAW_ERRORS = PLACE_ERRORS | {"message_not_found", "cant_update_message", "edit_window_closed"}
MAX_PROGRESS = 1000


class PlaceUnavailable(DeliveryError):
    """Slack refused the channel itself (not_in_channel...): retried later, unless another place stands in."""


def delivery_error(exc: Exception) -> DeliveryError:
    """What a failed Slack call means for the outbox: when to retry, or that retrying is pointless."""
    if not isinstance(exc, SlackApiError):
        return DeliveryError(f"Slack unreachable: {type(exc).__name__}: {exc}")
    status = exc.response.status_code
    error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
    if status == 429:
        return DeliveryError("Slack rate limit", retry_after=_retry_after(exc.response.headers))
    if status >= 500 or error is None:
        return DeliveryError(f"Slack answered {status} {error or ''}".rstrip())
    if error in PLACE_ERRORS:
        return PlaceUnavailable(f"Slack refused the channel: {error}")
    return DeliveryError(f"Slack refused the call: {error}", permanent=error in REQUEST_ERRORS)


def _retry_after(headers: Mapping[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(1.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                break
    return 1.0


class SlackDesk:
    """Posts ticket notices to Slack.

    A notice that needs several calls (the escalation post and the assignee's DM; a thread post and a redraw)
    remembers, in this process, which calls already succeeded: when Slack fails half-way, the retry from the
    outbox makes only the missing calls, so nothing is posted twice."""

    def __init__(self, client: AsyncWebClient, staff: Sequence[StaffMember] = ()):
        self.client = client
        self.staff_options = [(m.key, m.name) for m in staff if m.active]
        self._progress: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def notify(self, notice: StaffNotice) -> DeskThread | None:
        key = _identity(notice)
        done = self._progress.pop(key, None) or {}
        try:
            if notice.kind == StaffNoticeKind.OPENED:
                return await self._opened(notice, done)
            return await self._follow_up(notice, done)
        except DeliveryError:
            self._remember(key, done)
            raise

    async def digest(self, digest: StaffDigest) -> None:
        """One summary where the folded notices would have gone, then one DM to each assignee about theirs."""
        done = self._progress.pop(digest.key, None) or {}
        told = {_slack_id(entry.person) for entry in digest.assignees.values()} - {None, digest.place}
        try:
            if "summary" not in done:
                try:
                    done["summary"] = await self.post(digest.place, *summary_message(digest))
                except PlaceUnavailable as exc:
                    if not told:
                        raise
                    log.error("cannot post a summary of %d notices in %s (%s); only their assignees are told. "
                              "Invite the bot there.", sum(digest.counts.values()), digest.place, exc)  # fmt: skip
                    done["summary"] = None
            link = await self.permalink(*done["summary"]) if done["summary"] else None
            for key, entry in sorted(digest.assignees.items()):
                slack_id = _slack_id(entry.person)
                if slack_id is None or slack_id not in told or f"dm:{slack_id}" in done:
                    continue  # nobody to tell, or the summary is already in their DM
                message = assignee_message(digest, key, link)
                if message is not None:
                    await self.post(slack_id, *message)
                done[f"dm:{slack_id}"] = True
        except DeliveryError:
            self._remember(digest.key, done)
            raise

    def _remember(self, key: str, done: dict[str, Any]) -> None:
        """The calls that succeeded before a failure, so the outbox's retry makes only the missing ones."""
        if done:
            self._progress[key] = done
            while len(self._progress) > MAX_PROGRESS:
                self._progress.popitem(last=False)

    # ---- the escalation message -------------------------------------------------------------

    async def _opened(self, notice: StaffNotice, done: dict[str, Any]) -> DeskThread | None:
        ticket = notice.ticket
        root = await self._root(ticket, done)
        if root is None:
            return None
        where, ts = root
        assignee = _slack_id(ticket.assignee)
        if assignee and not done["in_dm"] and "dm" not in done:
            await self.post(assignee, assignee_dm(ticket, await self.permalink(where, ts)))
            done["dm"] = True
        return DeskThread(channel=where, thread=ts)

    async def _root(self, ticket: TicketView, done: dict[str, Any]) -> tuple[str, str] | None:
        """The ticket's escalation message, posted once: in its channel, else (or when the bot may not post there)
        in its assignee's DM. None when there is neither."""
        if "root" in done:
            return done["root"]  # type: ignore[no-any-return]
        assignee = _slack_id(ticket.assignee)
        channel = ticket.desk_channel or ""
        text, blocks = ticket_message(ticket, self.staff_options)
        target = channel or assignee
        if not target:
            log.warning("ticket %s: no Slack channel (slack.channels) and no assignee with a slack_user_id; "
                        "nobody was told in Slack", ticket.ref)  # fmt: skip
            return None
        try:
            done["root"] = await self.post(target, text, blocks)
        except PlaceUnavailable as exc:
            if not channel or not assignee:
                raise
            log.error("ticket %s: cannot post in %s (%s); posted to %s's DM instead. Invite the bot there.",
                      ticket.ref, channel, exc, assignee)  # fmt: skip
            done["root"] = await self.post(assignee, text, blocks)
        done["in_dm"] = not channel or done["root"][0].startswith("D")
        return done["root"]  # type: ignore[no-any-return]

    # ---- everything after: the thread --------------------------------------------------------

    async def _follow_up(self, notice: StaffNotice, done: dict[str, Any]) -> DeskThread | None:
        """The notice in the ticket's thread. A ticket without a thread (its opening was folded into a summary)
        gets its escalation message first, then what the customer wrote meanwhile: the core sends only notices worth
        starting one for. Returns where the thread is when it started it here."""
        ticket = notice.ticket
        text = thread_text(notice)
        channel, thread = ticket.desk_channel or "", ticket.desk_thread or ""
        assignee = _slack_id(ticket.assignee)
        started: DeskThread | None = None
        if not thread:
            if not channel and not assignee:
                log.info("ticket %s: %s (not posted: the ticket has no place in Slack)", ticket.ref, notice.kind)
                return None
            root = await self._root(ticket, done)
            assert root is not None  # there is a channel or an assignee to post to
            channel, thread = root
            started = DeskThread(channel=channel, thread=thread)
        earlier = earlier_text(notice)
        if earlier is not None and "earlier" not in done:
            await self._in_thread(ticket, channel, thread, earlier)
            done["earlier"] = True
        if text is not None and "thread" not in done:
            await self._in_thread(ticket, channel, thread, text, broadcast=notice.kind == StaffNoticeKind.SLA_BREACH)
            done["thread"] = True
        # A message posted just now shows the ticket as it is: only an older one is redrawn.
        if redraws_root(notice) and started is None and "redrawn" not in done:
            await self.redraw(channel, thread, ticket)
            done["redrawn"] = True
        if notice.kind == StaffNoticeKind.REASSIGNED and assignee and "dm" not in done:
            await self.post(assignee, reassigned_dm(ticket, notice.actor, await self.permalink(channel, thread)))
            done["dm"] = True
        return started

    async def _in_thread(
        self, ticket: TicketView, channel: str, thread: str, text: str, *, broadcast: bool = False
    ) -> None:
        """One post in the ticket's thread; the assignee's DM stands in when the bot may not post there."""
        try:
            await self.post(channel, text, thread_ts=thread, broadcast=broadcast)
        except PlaceUnavailable as exc:
            assignee = _slack_id(ticket.assignee)
            if not assignee:
                raise
            log.error("ticket %s: cannot post in %s (%s); told %s by DM", ticket.ref, channel, exc, assignee)
            await self.post(assignee, f"*{escape(ticket.ref)}*: {text}")

    # ---- Slack calls --------------------------------------------------------------------------

    async def post(
        self, channel: str, text: str, blocks: list[JSON] | None = None, *, thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> tuple[str, str]:  # fmt: skip
        """chat.postMessage; returns (channel id, ts). Blocks Slack refuses fall back to the text alone."""
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if thread_ts:
            args.update(thread_ts=thread_ts, reply_broadcast=broadcast)
        try:
            answer = await _call(self.client.chat_postMessage(**args, blocks=blocks))
        except DeliveryError as exc:
            if not (blocks and exc.permanent):
                raise
            log.error("Slack refused the blocks (%s); posting the text alone", exc)
            answer = await _call(self.client.chat_postMessage(**args))
        return str(answer["channel"]), str(answer["ts"])

    async def redraw(self, channel: str, ts: str, ticket: TicketView) -> None:
        """chat.update of the escalation message: status, assignee and buttons as they are now."""
        text, blocks = ticket_message(ticket, self.staff_options)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            if exc.response.get("error") not in REDRAW_ERRORS:
                raise delivery_error(exc) from exc
            log.warning("ticket %s: the escalation message was not redrawn: %s", ticket.ref, exc.response["error"])
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise delivery_error(exc) from exc

    async def permalink(self, channel: str, ts: str) -> str | None:
        """A link to the message, or None when Slack will not give one (the message says where to look)."""
        try:
            answer = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            return None
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise delivery_error(exc) from exc
        return str(answer.get("permalink") or "") or None


async def _call(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise delivery_error(exc) from exc


def _slack_id(who: Person | None) -> str | None:
    return who.slack_user_id if who is not None and who.slack_user_id else None


def _identity(notice: StaffNotice) -> str:
    """The same notice (a retry from the outbox) has the same identity: its progress is found again."""
    details = notice.details.as_data()
    return json.dumps([notice.ticket.id, notice.kind, notice.text, notice.actor, details, notice.earlier],
                      sort_keys=True, default=str)  # fmt: skip
