"""The winback section: why customers leave (the reasons they choose from), which reasons staff can fix (a save
attempt: a retention ticket for the named person), and the win-back messages that follow a cancellation."""

from __future__ import annotations

from pydantic import Field, model_validator

from bot.config.section import KEY_PATTERN, Section


class WinbackStep(Section):
    # Days after the cancellation; the flow (flows/*.yaml) that is started then.
    after_days: float = Field(gt=0)
    flow: str = Field(pattern=KEY_PATTERN, max_length=60)


class WinbackSettings(Section):
    enabled: bool = True
    # The structured reasons (the cancellation flow's choices). A `cancelled` event with another reason is recorded
    # as "other", its words kept with the free text.
    reasons: tuple[str, ...] = ("price", "not_using", "problem", "service", "missing", "switching", "other")
    # Reasons staff can fix: a retention ticket (category `retention`) for the named person, a save attempt.
    fixable_reasons: tuple[str, ...] = ("price", "problem", "service")
    ticket_category: str = Field("retention", pattern=KEY_PATTERN)
    ticket_severity: str = Field("normal", pattern="^(low|normal|high|critical)$")
    # The flow customers cancel through (its answers `reason`, `details` and `still_cancel` are read).
    flow: str = Field("cancellation", pattern=KEY_PATTERN)
    steps: tuple[WinbackStep, ...] = (
        WinbackStep(after_days=7, flow="winback_ask"),
        WinbackStep(after_days=30, flow="winback_offer"),
        WinbackStep(after_days=90, flow="winback_news"),
    )
    # Any of these events after the cancellation stops the sequence: the customer is back (opting out stops it too).
    stop_on: tuple[str, ...] = ("reactivated", "activated", "signed_up", "purchased")
    # A second signal of the same cancellation (the CRM's `cancelled` after the chat request) within this many days
    # joins the first: one sequence, one ticket.
    same_cancellation_days: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _known_reasons(self) -> WinbackSettings:
        unknown = [reason for reason in self.fixable_reasons if reason not in self.reasons]
        if unknown:
            raise ValueError(f"fixable_reasons {unknown} are not in reasons {list(self.reasons)}")
        if "other" not in self.reasons:
            raise ValueError("reasons must include 'other' (where reasons the list does not know go)")
        return self
