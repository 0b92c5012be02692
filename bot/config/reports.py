"""The reports section: the weekly digest of the reports, posted to a Slack channel (docs/reports.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.section import Section


class DigestSettings(Section):
    """Where and when the weekly digest goes: a Slack channel (its id, like C0123, or #name), on a weekday at an
    hour, in the business's time zone. It covers the seven days before that day."""

    channel: str = Field(min_length=1, max_length=80, pattern=r"^(#[a-z0-9_\-]+|[A-Z0-9]+)$")
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    hour: int = Field(9, ge=0, le=23)
    # How many complaint categories and churn reasons it names (the most frequent).
    top: int = Field(5, ge=1, le=20)


class ReportsSettings(Section):
    # No digest unless configured.
    digest: DigestSettings | None = None
