"""Staff alerts that belong to no ticket (a reward pool ran out) in Slack: one post to the configured channel, through
the desk's chat.postMessage (its errors become DeliveryErrors the outbox retries)."""

from __future__ import annotations

from handlers.slack.desk import SlackDesk
from handlers.slack.mrkdwn import truncate


class SlackAlertDesk:
    """The AlertDesk port (bot/rewards/alerts.py) on Slack."""

    def __init__(self, desk: SlackDesk):
        self.desk = desk

    async def post_alert(self, channel: str, text: str) -> None:
        await self.desk.post(channel, truncate(f":warning: {text}", 3000))
