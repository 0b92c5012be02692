"""The tiers section: the rules that put each customer in a tier (core, standard, ...), first match wins."""

from __future__ import annotations

from pydantic import Field, model_validator

from bot.config.section import KEY_PATTERN, Section


class TierRule(Section):
    """First matching rule wins. `top_percent` ranks customers by the numeric attribute `by`."""

    tier: str = Field(pattern=KEY_PATTERN)
    top_percent: float | None = Field(None, gt=0, le=100)
    by: str = "lifetime_value"
    # A condition over the customer, e.g. "customer.tenure_days >= 365 and customer.attributes.orders > 10".
    when: str | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> TierRule:
        if self.top_percent is None and self.when is None:
            raise ValueError(f"tier rule {self.tier!r} needs top_percent or when")
        return self


class TierSettings(Section):
    default: str = Field("standard", pattern=KEY_PATTERN)
    rules: tuple[TierRule, ...] = ()
