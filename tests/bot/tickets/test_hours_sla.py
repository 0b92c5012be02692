"""Working hours in people's own time zones, and SLA deadlines in calendar or business hours, per tier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import TicketSettings, WorkingHours
from bot.tickets.hours import add_working_time, describe, is_working
from bot.tickets.sla import deadlines

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
EVERY_DAY = (*WEEKDAYS, "sat", "sun")
BERLIN = WorkingHours(days=WEEKDAYS, start="09:00", end="17:00", timezone="Europe/Berlin")
NEW_YORK = WorkingHours(days=WEEKDAYS, start="09:00", end="17:00", timezone="America/New_York")
TOKYO = WorkingHours(days=WEEKDAYS, start="08:00", end="17:00", timezone="Asia/Tokyo")
AROUND_THE_CLOCK = WorkingHours(days=EVERY_DAY, start="00:00", end="24:00", timezone="Europe/Berlin")
NIGHTS = WorkingHours(days=EVERY_DAY, start="00:00", end="06:00", timezone="Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---- who is at work -------------------------------------------------------------------------------

AT_WORK = [
    pytest.param(BERLIN, "2026-03-02 08:00", True, id="Berlin 09:00 (UTC+1): opening time counts"),
    pytest.param(BERLIN, "2026-03-02 07:59", False, id="Berlin 08:59: not yet"),
    pytest.param(BERLIN, "2026-03-02 16:00", False, id="Berlin 17:00: closing time does not"),
    pytest.param(BERLIN, "2026-03-30 07:30", True, id="Berlin 09:30 in summer time (UTC+2)"),
    pytest.param(BERLIN, "2026-03-07 10:00", False, id="Saturday"),
    pytest.param(NEW_YORK, "2026-03-02 13:30", False, id="New York 08:30 (UTC-5)"),
    pytest.param(NEW_YORK, "2026-03-09 13:30", True, id="New York 09:30 after the US clocks changed (UTC-4)"),
    pytest.param(TOKYO, "2026-03-08 23:30", True, id="Monday 08:30 in Tokyo is still Sunday in UTC"),
    pytest.param(TOKYO, "2026-03-06 09:00", False, id="Friday 18:00 in Tokyo: gone home"),
    pytest.param(AROUND_THE_CLOCK, "2026-03-07 22:59", True, id="24:00 means to the end of the day"),
    pytest.param(None, "2026-03-08 03:00", True, id="no working hours: always available"),
]


@pytest.mark.parametrize(("hours", "moment", "expected"), AT_WORK)
def test_is_working_uses_the_persons_own_time_zone(hours: WorkingHours | None, moment: str, expected: bool) -> None:
    assert is_working(hours, utc(moment)) is expected


def test_working_hours_are_described_for_people() -> None:
    assert describe(BERLIN) == "Mon,Tue,Wed,Thu,Fri 09:00-17:00 Europe/Berlin"
    assert describe(None) == "always"


# ---- adding working time ----------------------------------------------------------------------------

ADD = [
    pytest.param(BERLIN, "2026-03-02 09:00", 2, "2026-03-02 11:00", id="within the day (10:00 -> 12:00 Berlin)"),
    pytest.param(BERLIN, "2026-03-02 15:00", 2, "2026-03-03 09:00", id="16:00 + 2 h: 1 h today, 1 h tomorrow"),
    pytest.param(BERLIN, "2026-03-02 06:00", 1, "2026-03-02 09:00", id="before opening: the clock starts at 09:00"),
    pytest.param(BERLIN, "2026-03-06 14:00", 8, "2026-03-09 14:00", id="Friday 15:00 + 8 h: Monday 15:00"),
    pytest.param(BERLIN, "2026-03-07 11:00", 1, "2026-03-09 09:00", id="opened on Saturday: Monday 10:00"),
    pytest.param(BERLIN, "2026-03-06 16:00", 0.5, "2026-03-09 08:30", id="after Friday closing: Monday 09:30"),
    pytest.param(BERLIN, "2026-03-02 08:00", 40, "2026-03-06 16:00", id="a full working week"),
    pytest.param(BERLIN, "2026-03-27 14:00", 8, "2026-03-30 13:00",
                 id="over the weekend the clocks go forward: Monday 15:00 CEST"),
    pytest.param(BERLIN, "2026-10-23 13:00", 8, "2026-10-26 14:00",
                 id="over the weekend the clocks go back: Monday 15:00 CET"),
    pytest.param(NEW_YORK, "2026-03-06 19:00", 8, "2026-03-09 18:00", id="US clocks change a few weeks earlier"),
    pytest.param(AROUND_THE_CLOCK, "2026-03-28 23:00", 8, "2026-03-29 07:00",
                 id="working through the night the clocks go forward: 8 real hours"),
    pytest.param(AROUND_THE_CLOCK, "2026-10-24 22:00", 8, "2026-10-25 06:00",
                 id="working through the night the clocks go back: 8 real hours"),
    pytest.param(NIGHTS, "2026-03-28 23:00", 6, "2026-03-29 23:00",
                 id="a shift an hour short on the day the clocks go forward"),
]  # fmt: skip


@pytest.mark.parametrize(("hours", "start", "amount", "expected"), ADD)
def test_add_working_time_counts_only_working_hours(
    hours: WorkingHours, start: str, amount: float, expected: str
) -> None:
    assert add_working_time(hours, utc(start), timedelta(hours=amount)) == utc(expected)


def test_working_hours_without_working_days_are_refused() -> None:
    never = WorkingHours.model_construct(days=(), start="09:00", end="17:00", timezone="UTC")
    with pytest.raises(ValueError, match="no working days"):
        add_working_time(never, utc("2026-03-02 09:00"), timedelta(hours=1))


# ---- SLA deadlines ----------------------------------------------------------------------------------------

CALENDAR = TicketSettings()
BUSINESS = TicketSettings(sla_clock="business", business_hours=BERLIN)
VIP = TicketSettings(tier_factor={"core": 0.5, "vip": 0.25, "trial": 2})

DEADLINES: list[Any] = [
    pytest.param(CALENDAR, "normal", "standard", "2026-03-06 14:00", "2026-03-06 22:00", "2026-03-08 14:00",
                 id="calendar: 8 h and 48 h, through the weekend"),
    pytest.param(CALENDAR, "high", "standard", "2026-03-06 14:00", "2026-03-06 16:00", "2026-03-07 14:00",
                 id="calendar: high severity is faster"),
    pytest.param(CALENDAR, "normal", "core", "2026-03-06 14:00", "2026-03-06 18:00", "2026-03-07 14:00",
                 id="calendar: core customers get half the time"),
    pytest.param(CALENDAR, "whenever", "standard", "2026-03-06 14:00", "2026-03-06 22:00", "2026-03-08 14:00",
                 id="an unknown severity counts as normal"),
    pytest.param(VIP, "normal", "vip", "2026-03-06 14:00", "2026-03-06 16:00", "2026-03-07 02:00",
                 id="a configured tier factor"),
    pytest.param(VIP, "low", "trial", "2026-03-02 09:00", "2026-03-04 09:00", "2026-03-12 09:00",
                 id="a factor above 1 gives more time"),
    pytest.param(BUSINESS, "normal", "standard", "2026-03-06 14:00", "2026-03-09 14:00", "2026-03-16 14:00",
                 id="business hours: Friday 15:00 -> Monday 15:00, and 6 working days"),
    pytest.param(BUSINESS, "normal", "core", "2026-03-06 14:00", "2026-03-09 10:00", "2026-03-11 14:00",
                 id="business hours: core customers get half"),
    pytest.param(BUSINESS, "critical", "standard", "2026-03-07 12:00", "2026-03-09 09:00", "2026-03-09 16:00",
                 id="business hours: opened on Saturday, the clock starts Monday"),
    pytest.param(BUSINESS, "normal", "standard", "2026-03-27 14:00", "2026-03-30 13:00", "2026-04-06 13:00",
                 id="business hours: over the change to summer time"),
]  # fmt: skip


@pytest.mark.parametrize(("cfg", "severity", "tier", "now", "first", "resolution"), DEADLINES)
def test_sla_deadlines_per_severity_and_tier(
    cfg: TicketSettings, severity: str, tier: str, now: str, first: str, resolution: str
) -> None:
    assert deadlines(cfg, severity, tier, utc(now)) == (utc(first), utc(resolution))
