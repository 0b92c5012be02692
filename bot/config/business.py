"""The business itself: its name, time zone, how it reads phone numbers and dates, and working hours."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from bot.config.section import HHMM, Section, check_timezone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessSettings(Section):
    # Shown to customers ("welcome to ...", "recommend ... to a friend"): the default reads well until it is set.
    name: str = "our service"
    timezone: str = "UTC"
    # Region used to read phone numbers written without a country code (ISO 3166 alpha-2).
    default_region: str = "US"
    # Read ambiguous dates like 03/04 as day first (3 April) or month first (March 4).
    dayfirst: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @property
    def zone(self) -> ZoneInfo:
        """The business's time zone: for schedules, business days and dates written without one."""
        return ZoneInfo(self.timezone)


class WorkingHours(Section):
    """When someone (or the business) works, in their own time zone."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = Field("09:00", pattern=HHMM)
    # Up to 24:00, the end of the day.
    end: str = Field("17:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError(f"working hours start ({self.start}) must be before end ({self.end})")
        return self
