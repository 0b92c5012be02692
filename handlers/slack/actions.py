"""The buttons on an escalation message (Claim, Reassign, Resolve), the Resolve modal and a digest's menu (work on
one of the tickets it lists): ack at once, then act through the core. Only people in the staff directory may act;
anyone else gets a private refusal."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import Core
from bot.tickets.lifecycle import Outcome
from handlers.slack.blocks import (
    CLAIM,
    COMPENSATION_INPUT,
    REASSIGN,
    RESOLUTION_INPUT,
    RESOLVE,
    RESOLVE_VIEW,
    REWARD_INPUT,
    resolve_modal,
)
from handlers.slack.digest import OPEN_TICKET
from handlers.slack.staff import member, refusal, tell

log = logging.getLogger(__name__)
EMPTY_RESOLUTION = "Write what was done: the customer reads it."
# A button or form names its ticket by reference; only an erasure removes a ticket, and ids and references are never
# given again (migration 0007), so the answer is this, never an action on another ticket.
GONE = "{ref} no longer exists: its customer's data was erased. Nothing was done."


def register(app: AsyncApp, core: Core, kick: Callable[[], None]) -> None:
    settings = core.settings
    pools = [(name, pool.title) for name, pool in settings.rewards.pools.items()]

    async def after(client: AsyncWebClient, channel: str | None, user: str, ref: str, outcome: Outcome) -> None:
        if outcome.ok:
            kick()  # the staff notice (and the customer's messages) go out now
        elif await core.ticket_queries.view(ref) is None:
            await tell(client, channel, user, GONE.format(ref=ref))
        else:
            await tell(client, channel, user, f"Not done: {outcome.message}.")

    @app.action(CLAIM)
    async def claim(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel = _who(body)
        staff = member(settings, user)
        if staff is None:
            await tell(client, channel, user, refusal(user))
            return
        ref = body["actions"][0]["value"]
        await after(client, channel, user, ref, await core.tickets.claim(ref, staff.key))

    @app.action(REASSIGN)
    async def reassign(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel = _who(body)
        staff = member(settings, user)
        if staff is None:
            await tell(client, channel, user, refusal(user))
            return
        ref, _, to_key = body["actions"][0]["selected_option"]["value"].rpartition(":")
        view = await core.ticket_queries.view(ref)
        current = view.assignee if view is not None else None
        if current is not None and current.key == to_key:
            await tell(client, channel, user, f"{ref} is already with {current.name}.")
            return
        await after(client, channel, user, ref, await core.tickets.reassign(ref, staff.key, to_key))

    @app.action(OPEN_TICKET)
    async def open_ticket(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A ticket picked from a digest's menu: its escalation message is posted (once) and the person pointed
        to it, so it can be claimed and resolved like any other."""
        await ack()
        user, channel = _who(body)
        staff = member(settings, user)
        if staff is None:
            await tell(client, channel, user, refusal(user))
            return
        ref = str((body["actions"][0].get("selected_option") or {}).get("value") or "")
        await after(client, channel, user, ref, await core.tickets.show(ref, staff.key))

    @app.action(RESOLVE)
    async def resolve(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel = _who(body)
        if member(settings, user) is None:
            await tell(client, channel, user, refusal(user))
            return
        ref = body["actions"][0]["value"]
        if await core.ticket_queries.view(ref) is None:
            await tell(client, channel, user, GONE.format(ref=ref))
            return
        try:
            await client.views_open(
                trigger_id=body["trigger_id"], view=resolve_modal(ref, {"channel": channel or ""}, pools)
            )
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("the Resolve form for %s did not open: %s", ref, exc)
            await tell(client, channel, user, "Slack did not open the form; please press Resolve again.")

    @app.view(RESOLVE_VIEW)
    async def resolved(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        user = body["user"]["id"]
        staff = member(settings, user)
        block_id, _ = RESOLUTION_INPUT
        resolution, compensation = _typed(view, RESOLUTION_INPUT), _typed(view, COMPENSATION_INPUT)
        if staff is None:
            await ack(response_action="errors", errors={block_id: refusal(user)})
            return
        if not resolution.strip():
            await ack(response_action="errors", errors={block_id: EMPTY_RESOLUTION})
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        reward = _chosen(view, REWARD_INPUT)
        outcome = await core.tickets.resolve(metadata["ref"], staff.key, resolution, compensation, reward)
        await after(client, metadata.get("channel") or None, user, metadata["ref"], outcome)


def _who(body: dict[str, Any]) -> tuple[str, str | None]:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return body["user"]["id"], channel


def _chosen(view: dict[str, Any], where: tuple[str, str]) -> str | None:
    """The value of a static_select, or None when nothing was chosen."""
    block_id, action_id = where
    state = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(action_id, {})
    return ((state.get("selected_option") or {}).get("value")) or None


def _typed(view: dict[str, Any], where: tuple[str, str]) -> str:
    block_id, action_id = where
    value = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(action_id, {}).get("value")
    return str(value or "")
