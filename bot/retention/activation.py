"""Activation nudges: a customer who signed up and has not `activated` after N days gets a helpful flow (tips, a
person's help); each nudge is queued when the signup is seen and cancelled by the activation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config.activation import ActivationSettings
from bot.customers.models import CustomerEvent
from bot.retention import facts
from bot.retention.checks import ACTIVATION
from bot.retention.kinds import cancel_queued, queue_flow

SIGNED_UP = "signed_up"
# A nudge whose day is further back than this when the signup is seen is left out (a backfill of old signups).
NUDGE_GRACE = timedelta(days=1)


async def take_signups(session: AsyncSession, cfg: ActivationSettings, since: datetime, now: datetime) -> int:
    """Queue the nudges of the signups received since `since` (not for customers who activated); how many."""
    query = (
        select(CustomerEvent)
        .where(CustomerEvent.name == SIGNED_UP, CustomerEvent.received_at > since,
               ~facts.had_event(CustomerEvent.customer_id, facts.ACTIVATED))
        .order_by(CustomerEvent.id)
    )  # fmt: skip
    queued = 0
    for event in (await session.execute(query)).scalars():
        for n, nudge in enumerate(cfg.nudges, 1):
            due = event.occurred_at + timedelta(days=nudge.after_days)
            if due < now - NUDGE_GRACE:
                continue
            queued += await queue_flow(
                session, program=ACTIVATION, key=f"{event.customer_id}:{event.id}:{n}", customer_id=event.customer_id,
                flow_id=nudge.flow, due_at=max(due, now), data={"nudge": n, "days": nudge.after_days},
            )  # fmt: skip
    return queued


async def stop_activated(session: AsyncSession, since: datetime, now: datetime) -> int:
    """Nudges still waiting for customers who activated since `since` are cancelled; how many."""
    query = select(CustomerEvent.customer_id).where(
        CustomerEvent.name == facts.ACTIVATED, CustomerEvent.received_at > since
    )
    cancelled = 0
    for customer_id in set((await session.execute(query)).scalars()):
        cancelled += await cancel_queued(session, f"{ACTIVATION}:{customer_id}:", now, "activated")
    return cancelled
