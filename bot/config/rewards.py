"""The rewards section: pools of codes (imported from a CSV file or generated from a template), what the customer
is told, where staff hear about an empty pool, and the goodwill reward after a breached SLA."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from bot.config.section import KEY_PATTERN, Section

# "{random:8}": eight random characters from an alphabet without look-alikes (0/O, 1/I/L).
RANDOM_PART = re.compile(r"\{random:(\d+)\}")


class RewardPool(Section):
    title: str = ""
    # What the code is worth, for the customer's message ("10% off your next order").
    description: str = ""
    # Codes made on demand from this template (e.g. "WELCOME-{random:8}"); without one, codes come from
    # `engagebot rewards import POOL FILE.csv`.
    template: str | None = Field(None, max_length=100)
    # Staff are alerted once the pool has this many codes left (0: only when it is empty).
    alert_below: int = Field(0, ge=0)

    @field_validator("template")
    @classmethod
    def _random_part(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [int(n) for n in RANDOM_PART.findall(value)]
        if not parts or sum(parts) < 6:
            raise ValueError("a code template needs random characters, at least 6: e.g. WELCOME-{random:8}")
        if any(n > 40 for n in parts):
            raise ValueError("{random:N} takes at most 40 characters")
        return value


class GoodwillReward(Section):
    """A reward offered with the resolution of a ticket whose SLA was breached."""

    pool: str = Field(pattern=KEY_PATTERN, max_length=60)


class RewardSettings(Section):
    pools: dict[str, RewardPool] = {}
    # Where staff alerts that belong to no ticket go: an empty (or nearly empty) pool, and an incident's late
    # update (bot/incidents). A Slack channel; the log when Slack is not set up. The name predates the second use.
    alert_channel: str = "#staff"
    # What the customer reads (sandboxed templates; they see `reward.code`, `reward.pool`, `reward.description`).
    given_text: str = (
        "Here is your reward: {{ reward.code }}{% if reward.description %} ({{ reward.description }}){% endif %}"
    )
    empty_text: str = ("We meant to give you a reward, but we have just run out. Someone on our team has been told "
                       "and will send it to you soon.")  # fmt: skip
    goodwill_on_sla_breach: GoodwillReward | None = None

    @field_validator("pools")
    @classmethod
    def _pool_names(cls, value: dict[str, RewardPool]) -> dict[str, RewardPool]:
        for name in value:
            if not re.match(KEY_PATTERN, name) or len(name) > 60:
                raise ValueError(f"pool name {name!r}: use lower case letters, digits, _ and - (up to 60)")
        return value

    @model_validator(mode="after")
    def _goodwill_pool(self) -> RewardSettings:
        goodwill = self.goodwill_on_sla_breach
        if goodwill is not None and goodwill.pool not in self.pools:
            raise ValueError(f"goodwill_on_sla_breach.pool: no pool {goodwill.pool!r} under rewards.pools")
        return self
