"""The outreach section: the dispatcher's pace, quiet hours, the frequency cap, when held messages expire, and
reminders for unanswered proactive questions."""

from __future__ import annotations

from pydantic import Field, model_validator

from bot.config.section import HHMM, Section


class QuietHours(Section):
    """Local hours (in each customer's own time zone) when proactive messages wait; may span midnight."""

    start: str = Field("21:00", pattern=HHMM)
    end: str = Field("09:00", pattern=HHMM)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end are the same time; set quiet_hours: null to turn them off")
        return self


class FrequencyCap(Section):
    """At most `max_messages` proactive messages per customer in any rolling `window_days`."""

    max_messages: int = Field(3, ge=1)
    window_days: float = Field(7, gt=0)


class CheckinSettings(Section):
    """Unanswered proactive questions (check-ins, surveys started by the bot): remind, then move on."""

    remind_after_hours: float = Field(24, gt=0)
    max_reminders: int = Field(1, ge=0, le=10)
    # After this long without an answer the flow goes on without it (later check-ins still come).
    give_up_after_hours: float = Field(72, gt=0)


class OutreachSettings(Section):
    tick_seconds: float = Field(2.0, gt=0)
    batch_size: int = Field(100, ge=1, le=10000)
    lease_seconds: float = Field(120, gt=0)
    max_attempts: int = Field(8, ge=1)
    # Outbox rows one instance works on at once (different customers; one customer's rows stay in order).
    concurrency: int = Field(8, ge=1, le=256)
    # The share of each channel's overall rate limit proactive sends may use, across all instances
    # together: the rest is kept free for replies to customers who are chatting.
    broadcast_share: float = Field(0.8, gt=0, le=1)
    quiet_hours: QuietHours | None = QuietHours()
    frequency_cap: FrequencyCap | None = FrequencyCap()
    # A proactive message due while the customer is mid-conversation or has an open ticket waits this long.
    defer_minutes: float = Field(15, gt=0)
    # A campaign message still held (quiet hours, cap, busy customer) this long after it was due is skipped.
    expire_after_hours: float = Field(72, gt=0)
    checkins: CheckinSettings = CheckinSettings()
    # Time of day (business time zone) when tiers are recomputed; planning also runs after imports.
    tier_recompute_at: str = Field("03:00", pattern=HHMM)
