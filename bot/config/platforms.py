"""The chat platform sections: Telegram's behaviour and sending limits, Slack's channels, command and floods.
Their tokens and API URLs come from the environment (bot.config.environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.section import Section


class TelegramSettings(Section):
    """Telegram behaviour. The token, API URL and mode come from the environment (TELEGRAM_*)."""

    api_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    # The bot is one-to-one: in a group it says so and leaves, unless this is true.
    allow_groups: bool = False
    # Sending limits Telegram tolerates: overall per second, per chat per second, per-chat burst.
    max_per_second: float = Field(30, gt=0)
    max_per_chat_per_second: float = Field(1, gt=0)
    chat_burst: int = Field(3, ge=1)
    # A 429 asking to wait at most this long is waited out in place; longer goes to the outbox.
    max_inline_retry_seconds: float = Field(10, ge=0)
    # Customers whose updates are handled at once (each customer's one after another); in webhook mode the
    # webhook's max_connections. A kill -9 can send again at most this many unconfirmed reply batches.
    concurrent_updates: int = Field(16, ge=1, le=100)


class FoldSettings(Section):
    """When many new tickets (or SLA reminders and breaches) come at once for one channel, they are summarised in
    one post, and one DM per assignee, instead of one post each (docs/slack.md, "Floods")."""

    # Up to this many such notices per channel within `window_seconds` are posted one by one; more are folded.
    max_posts: int = Field(5, ge=1, le=1000)
    window_seconds: float = Field(60, gt=0, le=86400)
    # How long the first summary of a flood collects notices before it is posted; later ones follow a window apart.
    collect_seconds: float = Field(10, ge=0, le=3600)


class SlackSettings(Section):
    api_url: str = "https://slack.com/api/"
    # Escalation channel per ticket category; "default" for the rest (channel ids or #names).
    channels: dict[str, str] = {}
    # The slash command staff use (/engage mine, /engage ticket C-1042).
    command: str = "/engage"
    # How many recent customer messages a new-ticket post shows.
    transcript_lines: int = Field(6, ge=0, le=50)
    fold: FoldSettings = FoldSettings()
