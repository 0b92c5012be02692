"""The ticket sections: SLA hours and clocks, the staff who follow complaints up, and routing to a named person."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bot.config.business import WorkingHours
from bot.config.section import KEY_PATTERN, Section


class TicketSettings(Section):
    reference_prefix: str = "C-"
    reference_start: int = Field(1000, ge=0)
    # Hours until a first response is promised, per severity.
    first_response_hours: dict[str, float] = {"low": 24, "normal": 8, "high": 2, "critical": 1}
    resolution_hours: dict[str, float] = {"low": 120, "normal": 48, "high": 24, "critical": 8}
    # SLA hours count as calendar time, or only within business hours.
    sla_clock: Literal["calendar", "business"] = "calendar"
    business_hours: WorkingHours = WorkingHours()
    # Per customer tier, a factor on the SLA hours (core customers: half the time).
    tier_factor: dict[str, float] = {"core": 0.5}
    # The assignee is reminded this long before a first-response or resolution deadline.
    remind_before_minutes: float = Field(30, ge=0)
    sla_check_seconds: float = Field(60, gt=0)
    # A reply with CSAT at or below this reopens the ticket to the same person.
    reopen_at_or_below: int = Field(2, ge=1, le=5)
    # A complaint from a customer who already has an open ticket is added to it, unless they say it is a different
    # problem; then it gets its own ticket, up to this many open at once (beyond, it always joins the latest).
    max_open_per_customer: int = Field(3, ge=1, le=100)


class StaffMember(Section):
    key: str = Field(pattern=KEY_PATTERN)
    name: str
    slack_user_id: str | None = None
    email: str | None = None
    # What this person handles; empty lists mean "any".
    categories: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int = Field(15, ge=0)
    working_hours: WorkingHours | None = None  # none: always available
    backup: str | None = None
    active: bool = True


class RoutingMatch(Section):
    category: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    tier: tuple[str, ...] = ()
    language: tuple[str, ...] = ()

    @field_validator("category", "severity", "tier", "language", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class RoutingRule(Section):
    match: RoutingMatch = RoutingMatch()
    to: str  # a pool name or a staff key


class Pool(Section):
    members: tuple[str, ...] = Field(min_length=1)
    strategy: Literal["round_robin", "least_loaded"] = "least_loaded"


class RoutingSettings(Section):
    rules: tuple[RoutingRule, ...] = ()
    pools: dict[str, Pool] = {}
    # A customer attribute naming their dedicated person (a staff key): they get it first.
    account_manager_attribute: str = "account_manager"
    # Otherwise the person who handled the customer's last ticket, if available.
    prefer_previous_handler: bool = True
    # The on-call lead who gets a ticket when nobody else can (a staff key).
    fallback: str | None = None
