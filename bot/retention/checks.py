"""Right before a program's message goes out: does the program still want it? A comeback stops the win-back, an
activation the nudges, an open ticket or a recent complaint a cross-sell offer, a newer answer the re-survey."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.retention import facts
from bot.retention.models import FINISHED, RUNNING, Cancellation, CrosssellOffer

WINBACK = "winback"
ACTIVATION = "activation"
CROSSSELL = "crosssell"
RESURVEY = "resurvey"


async def why_not(
    session: AsyncSession, settings: Settings, program: str, customer_id: int, data: dict[str, Any], now: datetime
) -> str | None:
    """None when the message should go; else why not."""
    sections = {WINBACK: settings.winback, ACTIVATION: settings.activation, CROSSSELL: settings.crosssell,
                RESURVEY: settings.resurvey}  # fmt: skip
    if program in sections and not sections[program].enabled:
        return f"{program} is turned off in the settings"
    if program == WINBACK:
        cancellation = await session.get(Cancellation, int(data.get("cancellation") or 0))
        if cancellation is None or cancellation.status != RUNNING:
            return f"the win-back stopped ({cancellation.stopped_by if cancellation else 'cancellation gone'})"
        return None
    if program == ACTIVATION:
        return "activated" if await _holds(session, facts.had_event(customer_id, facts.ACTIVATED)) else None
    if program == CROSSSELL:
        rule = settings.crosssell.rules.get(str(data.get("rule")))
        if rule is None:
            return "the rule was removed from the settings"
        if await _holds(session, facts.has_open_ticket(customer_id)):
            return "the customer has an open ticket"
        if await _holds(session, facts.complained_since(customer_id, now - timedelta(days=rule.complaint_days))):
            return "the customer complained recently"
        if await _holds(session, facts.bought(customer_id, rule.offer)):
            return f"the customer bought {rule.offer} already"
        return None
    if program == RESURVEY:
        after = int(data.get("after_response") or 0)
        if await _holds(session, facts.answered_after(customer_id, settings.resurvey.survey, after)):
            return "answered again meanwhile"
        return None
    return None


async def stopped(session: AsyncSession, program: str, data: dict[str, Any], why: str) -> None:
    if program == CROSSSELL and (offer := await session.get(CrosssellOffer, int(data.get("offer") or 0))):
        offer.stopped = why[:200]


async def sent(session: AsyncSession, program: str, data: dict[str, Any], now: datetime) -> None:
    """The program's message went out: a cross-sell offer counts from now; the last win-back step ends its sequence."""
    if program == CROSSSELL and (offer := await session.get(CrosssellOffer, int(data.get("offer") or 0))):
        offer.sent_at = now
    if program == WINBACK and data.get("last"):
        cancellation = await session.get(Cancellation, int(data.get("cancellation") or 0))
        if cancellation is not None and cancellation.status == RUNNING:
            cancellation.status, cancellation.stopped_by, cancellation.stopped_at = FINISHED, "last step sent", now


async def _holds(session: AsyncSession, condition: Any) -> bool:
    return bool((await session.execute(select(condition))).scalar())
