"""Who may act on tickets from Slack (people in the staff directory), and the private answers they get."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings, StaffMember
from bot.tickets import directory

log = logging.getLogger(__name__)

REFUSAL = ("Only people in the staff directory can work on tickets. Ask an admin to add your Slack user id "
           "(`{user}`) under `staff:` in config.yaml.")  # fmt: skip


def member(settings: Settings, slack_user_id: str | None) -> StaffMember | None:
    found = directory.member_by_slack_id(settings.staff, slack_user_id) if slack_user_id else None
    return found if found is not None and found.active else None


def refusal(slack_user_id: str) -> str:
    return REFUSAL.format(user=slack_user_id)


async def tell(
    client: AsyncWebClient, channel: str | None, user: str, text: str, *, thread_ts: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> None:  # fmt: skip
    """An ephemeral message only `user` sees (in `channel`, else by DM). Best effort: it is only feedback."""
    try:
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts, blocks=blocks)
        else:
            await client.chat_postMessage(channel=user, text=text, blocks=blocks)
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("could not tell %s in Slack: %s", user, exc)
