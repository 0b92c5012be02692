"""The resurvey section: ask NPS again every N months per customer, so the trend in `reports nps` shows whether
changes paid off."""

from __future__ import annotations

from pydantic import Field

from bot.config.section import KEY_PATTERN, Section


class ResurveySettings(Section):
    enabled: bool = True
    # The survey whose last answer starts the clock (record_survey's `survey`), and the flow that asks it again.
    survey: str = Field("nps", pattern=KEY_PATTERN)
    flow: str = Field("nps", pattern=KEY_PATTERN)
    every_months: int = Field(6, ge=1, le=60)
    # How often the schedule is checked.
    check_every_minutes: float = Field(60, gt=0)
