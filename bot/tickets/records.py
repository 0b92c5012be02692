"""Opening tickets with a human reference and SLA due times; the timeline; listing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import RoutingSettings, Settings, TicketSettings
from bot.customers.models import Customer
from bot.tickets import desk, directory, sla
from bot.tickets.models import UNRESOLVED_STATUSES, Staff, Ticket, TicketEvent, TicketEventKind, TicketStatus
from bot.tickets.routing import RoutingDecision, TicketFacts, TicketRouter
from bot.tickets.staffdesk import StaffNoticeKind
from bot.tickets.views import TicketTemplateView

log = logging.getLogger(__name__)


async def open_ticket(
    session: AsyncSession,
    settings: Settings,
    *,
    customer_id: int,
    now: datetime,
    kind: str = "complaint",
    category: str = "general",
    severity: str = "normal",
    summary: str = "",
    description: str = "",
    attachments: Sequence[dict[str, Any]] = (),
    channel: str | None = None,
) -> Ticket:
    """Open a ticket, route it to a named person, set its SLA clocks and queue the staff notice.

    All in the caller's transaction: a ticket never exists without its notification queued.
    """
    customer = await session.get(Customer, customer_id)
    tier = customer.tier if customer is not None else "standard"
    ticket = Ticket(
        customer_id=customer_id, kind=kind, category=(category or "general")[:64], status=TicketStatus.OPEN,
        severity=severity, summary=summary[:500], description=description,
        attachments=list(attachments), channel=channel, created_at=now, updated_at=now,
    )  # fmt: skip
    first, resolution = sla.deadlines(settings.tickets, severity, tier, now)
    ticket.first_response_due, ticket.resolution_due = first, resolution
    session.add(ticket)
    await session.flush()
    ticket.ref = await _reference(session, settings.tickets, ticket.id)
    await add_event(
        session, ticket, TicketEventKind.OPENED, now, body=summary or description[:500], data={"kind": kind}
    )
    decision = await route(session, settings, ticket, customer, now)
    if decision.staff_key is not None:
        staff = await directory.staff_by_key(session, decision.staff_key)
        if staff is not None:
            ticket.assignee_id = staff.id
            ticket.status = TicketStatus.ASSIGNED
            await add_event(session, ticket, TicketEventKind.ASSIGNED, now, body=staff.name,
                            data={"reasons": list(decision.reasons)})  # fmt: skip
    await desk.queue_notice(session, ticket, StaffNoticeKind.OPENED, now)
    return ticket


async def _reference(session: AsyncSession, cfg: TicketSettings, ticket_id: int) -> str:
    """The reference staff and the customer use: the prefix and reference_start + the ticket's id (C-1002).

    An id is never given twice (a sequence on PostgreSQL, AUTOINCREMENT on SQLite), so neither is a reference, and
    tickets.ref is unique besides. Only lowering tickets.reference_start could lead back to a reference already
    given: then the ticket takes the next number above every one given, rather than failing the complaint.
    """
    prefix = cfg.reference_prefix
    ref = f"{prefix}{cfg.reference_start + ticket_id}"
    if (await session.execute(select(Ticket.id).where(Ticket.ref == ref))).first() is None:
        return ref
    given = (await session.execute(select(Ticket.ref).where(Ticket.ref.startswith(prefix, autoescape=True)))).scalars()
    numbers = [int(r[len(prefix) :]) for r in given if r is not None and r[len(prefix) :].isdigit()]
    highest = max(numbers)
    log.warning(
        "ticket reference %s was given before (tickets.reference_start lowered?): this ticket is %s%d; "
        "set tickets.reference_start to %d or more", ref, prefix, highest + 1, highest - ticket_id + 1,
    )  # fmt: skip
    return f"{prefix}{highest + 1}"


async def route(
    session: AsyncSession, settings: Settings, ticket: Ticket, customer: Customer | None, now: datetime
) -> RoutingDecision:
    facts = TicketFacts(
        category=ticket.category,
        severity=ticket.severity,
        tier=customer.tier if customer else "standard",
        language=customer.language if customer else None,
        account_manager=_account_manager(settings.routing, customer),
        previous_handler=await directory.previous_handler(session, ticket.customer_id, ticket.id),
    )
    load = await directory.workload(session)
    return TicketRouter(settings.staff, settings.routing).choose_assignee(facts, load, now)


def _account_manager(routing: RoutingSettings, customer: Customer | None) -> str | None:
    if customer is None:
        return None
    value = (customer.attributes or {}).get(routing.account_manager_attribute)
    return str(value) if value else None


async def add_event(
    session: AsyncSession, ticket: Ticket, kind: TicketEventKind, now: datetime, *, actor: str = "system",
    body: str = "", data: dict[str, Any] | None = None,
) -> TicketEvent:  # fmt: skip
    event = TicketEvent(ticket_id=ticket.id, kind=kind, actor=actor, body=body, data=data or {}, created_at=now)
    session.add(event)
    ticket.updated_at = now
    await session.flush()
    return event


async def attach(session: AsyncSession, ticket: Ticket, media: dict[str, Any], now: datetime) -> None:
    ticket.attachments = [*(ticket.attachments or []), media]
    await add_event(session, ticket, TicketEventKind.ATTACHMENT, now, actor="customer", data=media)


async def latest_open_for_customer(session: AsyncSession, customer_id: int) -> Ticket | None:
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id, Ticket.status.in_(UNRESOLVED_STATUSES))
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def list_tickets(
    session: AsyncSession, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Ticket]:
    query = _with_status(select(Ticket), status).order_by(Ticket.id.desc()).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars())


async def count_tickets(session: AsyncSession, *, status: str | None = None) -> int:
    query = _with_status(select(func.count()).select_from(Ticket), status)
    return (await session.execute(query)).scalar_one()


def _with_status(query: Select[Any], status: str | None) -> Select[Any]:
    """ "open" means unresolved; another name is that status; None is every ticket."""
    if status == "open":
        return query.where(Ticket.status.in_(UNRESOLVED_STATUSES))
    return query.where(Ticket.status == status) if status else query


async def get_by_ref(session: AsyncSession, ref: str) -> Ticket | None:
    query = select(Ticket).where(Ticket.ref == ref.strip().upper())
    return (await session.execute(query)).scalar_one_or_none()


async def timeline(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    return list((await session.execute(query)).scalars())


def humanize_hours(hours: float) -> str:
    if hours < 1:
        minutes = max(1, round(hours * 60))
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if hours < 48:
        whole = round(hours)
        return f"{whole} hour{'s' if whole != 1 else ''}"
    days = round(hours / 24)
    return f"{days} day{'s' if days != 1 else ''}"


async def template_view(session: AsyncSession, ticket: Ticket, settings: Settings) -> TicketTemplateView:
    """What flow texts can see of a ticket: ref, category, respond_within, due, assignee..."""
    assignee = await session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    due = ticket.first_response_due
    hours = (due - ticket.created_at).total_seconds() / 3600 if due else 8
    local_due = due.astimezone(settings.business.zone) if due else None
    return TicketTemplateView(
        ref=ticket.ref, kind=ticket.kind, status=ticket.status, category=ticket.category, severity=ticket.severity,
        respond_within=humanize_hours(hours), due=local_due.strftime("%A %d %B, %H:%M") if local_due else "",
        assignee=assignee.name if assignee else "our team", summary=ticket.summary,
        resolution=ticket.resolution or "", compensation=ticket.compensation or "",
    )  # fmt: skip
