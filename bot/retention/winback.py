"""Cancellations: recorded from the CRM's `cancelled` event or a confirmed cancellation flow, with a structured reason
and the customer's own words; a fixable reason opens a retention ticket for the named person (a save attempt); the
win-back messages are queued at their days and cancelled when the customer comes back or opts out."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.config.winback import WinbackSettings
from bot.conversations.models import ConversationRun
from bot.customers.models import Customer, CustomerEvent
from bot.retention.checks import WINBACK
from bot.retention.kinds import cancel_queued, queue_flow
from bot.retention.models import OPTED_OUT, RUNNING, WON_BACK, Cancellation
from bot.tickets import intake

log = logging.getLogger(__name__)
CANCELLED = "cancelled"
OTHER = "other"
DETAILS_KEYS = ("details", "comment", "text")
# A cancellation older than this when we learn of it gets no save attempt (a backfill of last year's churn).
SAVE_WITHIN = timedelta(days=2)
# A win-back step whose day is further back than this when the cancellation is recorded is left out.
STEP_GRACE = timedelta(days=1)
DETAILS_LIMIT = 2000


def structured(cfg: WinbackSettings, reason: Any, details: Any) -> tuple[str, str | None]:
    """(a reason from the configured list, the free text): an unknown reason becomes "other", its words kept."""
    said = str(details).strip()[:DETAILS_LIMIT] if isinstance(details, str) and details.strip() else None
    given = str(reason).strip().lower().replace(" ", "_") if reason not in (None, "") else OTHER
    if given in cfg.reasons:
        return given, said
    words = str(reason).strip()[:200]
    return OTHER, f"{words}: {said}" if said else words


async def take_events(session: AsyncSession, settings: Settings, since: datetime, now: datetime) -> int:
    """Record the `cancelled` events received since `since`; how many cancellations are new."""
    query = (select(CustomerEvent).where(CustomerEvent.name == CANCELLED, CustomerEvent.received_at > since)
             .order_by(CustomerEvent.id))  # fmt: skip
    new = 0
    for event in (await session.execute(query)).scalars():
        details = next((event.data.get(k) for k in DETAILS_KEYS if isinstance(event.data.get(k), str)), None)
        reason, said = structured(settings.winback, event.data.get("reason"), details)
        new += await record(session, settings, event.customer_id, f"event:{event.id}", reason, said,
                            event.occurred_at, None, now)  # fmt: skip
    return new


async def take_flow_runs(session: AsyncSession, settings: Settings, since: datetime, now: datetime) -> int:
    """Record the cancellation flows that ended since `since` with the customer still wanting to cancel."""
    r = ConversationRun
    query = (select(r).where(r.flow_id == settings.winback.flow, r.ended_at > since,
                             r.answers["still_cancel"].as_boolean().is_(True)).order_by(r.id))  # fmt: skip
    new = 0
    for run in (await session.execute(query)).scalars():
        answers = run.answers or {}
        reason, said = structured(settings.winback, answers.get("reason"), answers.get("details"))
        ticket_id = (run.context or {}).get("ticket_id")
        assert run.ended_at is not None
        new += await record(session, settings, run.customer_id, f"flow:{run.id}", reason, said, run.ended_at,
                            int(ticket_id) if ticket_id else None, now)  # fmt: skip
    return new


async def record(
    session: AsyncSession, settings: Settings, customer_id: int, source: str, reason: str, details: str | None,
    cancelled_at: datetime, ticket_id: int | None, now: datetime,
) -> int:  # fmt: skip
    """One cancellation (1), or nothing new (0): seen before, or a second signal of a running one (joined to it)."""
    if (await session.execute(select(Cancellation.id).where(Cancellation.source == source))).first():
        return 0
    cfg = settings.winback
    same = (
        select(Cancellation)
        .where(Cancellation.customer_id == customer_id, Cancellation.status == RUNNING,
               Cancellation.cancelled_at >= cancelled_at - timedelta(days=cfg.same_cancellation_days))
        .order_by(Cancellation.id.desc()).limit(1)
    )  # fmt: skip
    running = (await session.execute(same)).scalar_one_or_none()
    if running is not None:
        if running.reason == OTHER and reason != OTHER:
            running.reason, running.fixable = reason, reason in cfg.fixable_reasons
        running.details = running.details or details
        return 0
    fixable = reason in cfg.fixable_reasons
    cancellation = Cancellation(customer_id=customer_id, source=source, reason=reason, details=details,
                                fixable=fixable, ticket_id=ticket_id, cancelled_at=cancelled_at, status=RUNNING,
                                created_at=now)  # fmt: skip
    session.add(cancellation)
    await session.flush()
    if fixable and ticket_id is None and cancelled_at >= now - SAVE_WITHIN:
        cancellation.ticket_id = await _save_attempt(session, settings, cancellation, now)
    await _queue_steps(session, cfg, cancellation, now)
    log.info("cancellation #%d of customer #%d recorded (%s, reason %s)", cancellation.id, customer_id, source, reason)
    return 1


async def _save_attempt(session: AsyncSession, settings: Settings, cancellation: Cancellation, now: datetime) -> int:
    """A retention ticket, routed as complaints are, so a named person tries to keep the customer."""
    cfg = settings.winback
    complaint = intake.Complaint(
        kind="handoff", category=cfg.ticket_category, severity=cfg.ticket_severity,
        summary=f"Cancelled (reason: {cancellation.reason})",
        description=(f"The customer cancelled. Reason: {cancellation.reason}.\n"
                     f"In their words: {cancellation.details or '(none)'}\n"
                     "This reason is one we can fix: please get in touch and try to keep them."),
    )  # fmt: skip
    taken = await intake.open_separately(session, settings, cancellation.customer_id, complaint, now)
    return taken.ticket.id


async def _queue_steps(session: AsyncSession, cfg: WinbackSettings, cancellation: Cancellation, now: datetime) -> None:
    for n, step in enumerate(cfg.steps, 1):
        due = cancellation.cancelled_at + timedelta(days=step.after_days)
        if due < now - STEP_GRACE:
            continue
        data = {"cancellation": cancellation.id, "step": n, "reason": cancellation.reason,
                "last": n == len(cfg.steps)}  # fmt: skip
        await queue_flow(session, program=WINBACK, key=f"{cancellation.id}:{n}", customer_id=cancellation.customer_id,
                         flow_id=step.flow, due_at=max(due, now), data=data)  # fmt: skip


async def stop_comebacks(session: AsyncSession, cfg: WinbackSettings, since: datetime, now: datetime) -> int:
    """Sequences whose customer came back (an event of `stop_on` after the cancellation) stop; how many."""
    if not cfg.stop_on:
        return 0
    query = (select(CustomerEvent).where(CustomerEvent.name.in_(cfg.stop_on), CustomerEvent.received_at > since)
             .order_by(CustomerEvent.id))  # fmt: skip
    stopped = 0
    for event in (await session.execute(query)).scalars():
        running = select(Cancellation).where(
            Cancellation.customer_id == event.customer_id, Cancellation.status == RUNNING,
            Cancellation.cancelled_at < event.occurred_at,
        )  # fmt: skip
        for cancellation in (await session.execute(running)).scalars():
            await _stop(session, cancellation, WON_BACK, event.name, event.occurred_at, now)
            stopped += 1
    return stopped


async def stop_opted_out(session: AsyncSession, now: datetime) -> int:
    """Sequences of customers who opted out stop (the policy would skip their messages anyway; this says why)."""
    query = (select(Cancellation).join(Customer, Customer.id == Cancellation.customer_id)
             .where(Cancellation.status == RUNNING, Customer.subscribed.is_(False)))  # fmt: skip
    stopped = 0
    for cancellation in (await session.execute(query)).scalars():
        await _stop(session, cancellation, OPTED_OUT, "opted out", now, now)
        stopped += 1
    return stopped


async def _stop(
    session: AsyncSession, cancellation: Cancellation, status: str, by: str, when: datetime, now: datetime
) -> None:
    cancellation.status, cancellation.stopped_by, cancellation.stopped_at = status, by, when
    cancelled = await cancel_queued(session, f"{WINBACK}:{cancellation.id}:", now, f"win-back stopped: {by}")
    log.info("win-back of cancellation #%d stopped (%s); %d messages cancelled", cancellation.id, by, cancelled)
