"""The campaigns section: each campaign's audience, content (a template or a flow) and schedule per tier."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.config.section import KEY_PATTERN, Section


class CampaignAudience(Section):
    # Empty: every tier. Opted-out and unreachable customers are never in an audience.
    tiers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # A condition over the customer, e.g. "customer.attributes.plan == 'pro'".
    when: str | None = None
    # Win-back: only customers without any activity (chat or CRM event) for this many days.
    inactive_days: float | None = Field(None, gt=0)

    @field_validator("tiers", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class CampaignButton(Section):
    label: str = Field(min_length=1, max_length=64)
    # A flow id (as in flows/*.yaml), so the button's payload always fits Telegram's 64-byte callback data.
    flow: str = Field(pattern=KEY_PATTERN, max_length=60)


class Campaign(Section):
    """A proactive message to an audience: a template to send or a flow to start, on a schedule."""

    title: str = ""
    # What it is for, shown in reports: tip, preview, report, offer, thank_you, win_back, news, survey.
    kind: Literal["tip", "preview", "report", "offer", "thank_you", "win_back", "news", "survey", "other"] = "other"
    enabled: bool = True
    audience: CampaignAudience = CampaignAudience()
    # Cron (minute hour day month weekday, business time zone) per tier; "*" for every other tier.
    schedule: dict[str, str] = {}
    # Or once, at this moment (ISO 8601 with an offset, e.g. 2026-12-01T10:00:00+01:00).
    at: datetime | None = None
    message: str | None = None
    buttons: tuple[CampaignButton, ...] = ()
    flow: str | None = None
    # A message campaign that gives each customer a code of this pool (rewards.pools), shown as {{ reward.code }}; when
    # the pool is empty the message is not sent and staff are alerted.
    reward: str | None = Field(None, pattern=KEY_PATTERN, max_length=60)
    # Overrides outreach.expire_after_hours for this campaign.
    expire_after_hours: float | None = Field(None, gt=0)
    # A customer who got this campaign in the last N days is left out of the next occurrence
    # (a weekly win-back must not chase the same people every week). None: every occurrence.
    repeat_after_days: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _content_and_schedule(self) -> Campaign:
        if (self.message is None) == (self.flow is None):
            raise ValueError("a campaign needs exactly one of message (a template) or flow (a flow to start)")
        if self.reward and self.flow:
            raise ValueError("reward goes with a message; a flow gives one with its own give_reward step")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at needs a UTC offset, e.g. 2026-12-01T10:00:00+01:00")
        for tier, cron in self.schedule.items():
            problem = cron_problem(cron)
            if problem:
                raise ValueError(f"schedule for {tier!r}: {problem}")
        return self


def cron_problem(expression: str) -> str | None:
    """None when `expression` is a valid five-field crontab line, else what is wrong."""
    # Imported here so that reading settings loads APScheduler only when a campaign has a schedule.
    from bot.crontab import cron_problem as check

    return check(expression)
