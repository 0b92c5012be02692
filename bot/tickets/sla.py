"""SLA clocks: deadlines per severity and tier, and the watch that reminds and escalates once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import TicketSettings
from bot.tickets import desk
from bot.tickets.hours import add_working_time
from bot.tickets.models import UNRESOLVED_STATUSES, Ticket, TicketEvent, TicketEventKind
from bot.tickets.staffdesk import NoticeDetails, StaffNoticeKind
from bot.tickets.views import SlaState

log = logging.getLogger(__name__)
# What an alarm is, as a staff notice and as a timeline entry.
_BREACH = (StaffNoticeKind.SLA_BREACH, TicketEventKind.SLA_BREACH)
_REMINDER = (StaffNoticeKind.SLA_REMINDER, TicketEventKind.SLA_REMINDER)


def deadlines(cfg: TicketSettings, severity: str, tier: str, now: datetime) -> tuple[datetime, datetime]:
    """First-response and resolution deadlines, in calendar or business hours, scaled per tier."""
    factor = cfg.tier_factor.get(tier, 1.0)
    first = timedelta(hours=cfg.first_response_hours.get(severity, cfg.first_response_hours.get("normal", 8)) * factor)
    resolve = timedelta(hours=cfg.resolution_hours.get(severity, cfg.resolution_hours.get("normal", 48)) * factor)
    if cfg.sla_clock == "business":
        return add_working_time(cfg.business_hours, now, first), add_working_time(cfg.business_hours, now, resolve)
    return now + first, now + resolve


async def watch(session: AsyncSession, cfg: TicketSettings, now: datetime) -> int:
    """Queue reminders before a deadline and escalations at it. Dedupe keys make each fire once,
    however many instances run the watch."""
    horizon = now + timedelta(minutes=cfg.remind_before_minutes)
    query = select(Ticket).where(
        Ticket.status.in_(UNRESOLVED_STATUSES),
        or_(
            Ticket.first_responded_at.is_(None) & (Ticket.first_response_due <= horizon),
            Ticket.resolution_due <= horizon,
        ),
    )
    fired = 0
    for ticket in (await session.execute(query)).scalars():
        clocks = [("resolution", ticket.resolution_due)]
        if ticket.first_responded_at is None:
            clocks.insert(0, ("first_response", ticket.first_response_due))
        for clock, due in clocks:
            if due is None or due > horizon:
                continue
            breached = due <= now
            kind, entry = _BREACH if breached else _REMINDER
            key = f"{kind}:{clock}:{due.isoformat()}"
            details = NoticeDetails(clock=clock, due=due.isoformat())
            if await desk.queue_notice(session, ticket, kind, now, key=key, details=details):
                fired += 1
                if breached:
                    ticket.sla_breached = True
                session.add(TicketEvent(ticket_id=ticket.id, kind=entry, body=f"{clock} due {due:%Y-%m-%d %H:%M} UTC",
                                        data={"clock": clock}, created_at=now))  # fmt: skip
    return fired


def state(ticket: Ticket, now: datetime) -> SlaState:
    """The clock that runs now (first response, then resolution): breached, due, or none.

    Overdue counts as breached even before the watch has marked it."""
    if ticket.sla_breached:
        return SlaState(breached=True)
    if ticket.status not in UNRESOLVED_STATUSES:
        return SlaState()
    due = ticket.first_response_due if ticket.first_responded_at is None else ticket.resolution_due
    if due is None:
        return SlaState()
    return SlaState(breached=True) if due <= now else SlaState(due=due)
