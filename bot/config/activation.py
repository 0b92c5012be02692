"""The activation section: nudges for customers who signed up and have not `activated` yet."""

from __future__ import annotations

from pydantic import Field

from bot.config.section import KEY_PATTERN, Section


class ActivationNudge(Section):
    # Days after the `signed_up` event; the flow started then unless the customer has `activated`.
    after_days: float = Field(gt=0)
    flow: str = Field(pattern=KEY_PATTERN, max_length=60)


class ActivationSettings(Section):
    enabled: bool = True
    nudges: tuple[ActivationNudge, ...] = (
        ActivationNudge(after_days=5, flow="activation_nudge"),
        ActivationNudge(after_days=12, flow="activation_nudge"),
    )
