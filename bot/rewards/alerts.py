"""Staff alerts that belong to no ticket (a pool of reward codes ran out): an outbox row posted to the staff's Slack
channel, or logged when Slack is not set up, so nobody learns about it only from an unhappy customer."""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import Settings
from bot.outbox import Claimed, Handler

log = logging.getLogger(__name__)
ALERT_ATTEMPTS = 60  # as staff notices: outlasts a long Slack outage


class RewardKind(StrEnum):
    # A message for staff (payload: channel, text).
    STAFF_ALERT = "staff_alert"


class AlertDesk(Protocol):
    """Where staff read alerts (Slack). Raises DeliveryError (bot/ports.py) when it cannot be reached."""

    async def post_alert(self, channel: str, text: str) -> None: ...


async def queue_alert(session: AsyncSession, settings: Settings, key: str, text: str, now: datetime) -> bool:
    """Queue an alert once per `key` (a repeated key is not queued again)."""
    return await outbox.enqueue(
        session, kind=RewardKind.STAFF_ALERT, dedupe_key=f"alert:{key}", due_at=now, customer_id=None,
        payload={"channel": settings.rewards.alert_channel, "text": text},
    )  # fmt: skip


class StaffAlerts:
    """The dispatcher's handler for staff alerts."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.desk: AlertDesk | None = None

    def outbox_handlers(self) -> dict[str, Handler]:
        return {RewardKind.STAFF_ALERT: Handler(self._post, max_attempts=ALERT_ATTEMPTS, available=self._has_desk)}

    def _has_desk(self) -> bool:
        """With Slack configured the row waits for a process that has it (a CLI's drain must not use it up)."""
        return self.desk is not None or self.settings.secrets.slack_bot_token is None

    async def _post(self, item: Claimed) -> bool:
        channel, text = str(item.payload.get("channel") or ""), str(item.payload.get("text") or "")
        if self.desk is None:
            log.warning("staff alert (no Slack configured): %s", text)
            return True
        await self.desk.post_alert(channel, text)
        return True
