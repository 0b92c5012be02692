"""The crosssell section: offer B to customers who bought A (a `purchased` event's data.product), with restraint:
cool-downs, no open ticket, no recent complaint."""

from __future__ import annotations

from pydantic import Field, field_validator

from bot.config.section import KEY_PATTERN, Section


class CrosssellRule(Section):
    # Product names as the `purchased` events carry them (data.product).
    bought: str = Field(min_length=1, max_length=200)
    offer: str = Field(min_length=1, max_length=200)
    # Only customers in these tiers; empty: every tier.
    tiers: tuple[str, ...] = ()
    # What the offer says (plain text); the flow shows it as {{ trigger.text }}.
    text: str = Field(min_length=1, max_length=1000)
    flow: str = Field("crosssell_offer", pattern=KEY_PATTERN, max_length=60)
    # Not offered the same product again within this many days.
    cooldown_days: float = Field(90, gt=0)
    # Nobody who complained within this many days.
    complaint_days: float = Field(30, ge=0)

    @field_validator("tiers", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class CrosssellSettings(Section):
    enabled: bool = True
    # How often the rules are checked (the leader plans; each offer is queued once).
    check_every_minutes: float = Field(60, gt=0)
    rules: dict[str, CrosssellRule] = {}

    @field_validator("rules")
    @classmethod
    def _rule_names(cls, rules: dict[str, CrosssellRule]) -> dict[str, CrosssellRule]:
        import re

        for name in rules:
            if not re.match(KEY_PATTERN, name):
                raise ValueError(f"rule name {name!r}: lower case letters, digits, _ and - only")
        return rules
