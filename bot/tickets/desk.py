"""Staff notices: queued in the outbox with the ticket's change, delivered to the StaffDesk (Slack)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import Settings, StaffMember
from bot.customers.models import ChannelIdentity, Customer
from bot.tickets.kinds import TicketKind
from bot.tickets.models import Staff, Ticket, TicketStatus
from bot.tickets.staffdesk import NoticeDetails, StaffNotice, StaffNoticeKind
from bot.tickets.views import Attachment, Deadline, Person, TicketCustomer, TicketView
from bot.transcript import Message

log = logging.getLogger(__name__)


async def queue_notice(
    session: AsyncSession, ticket: Ticket, kind: StaffNoticeKind, now: datetime, *, key: str | None = None,
    text: str = "", actor: str = "", details: NoticeDetails | None = None,
) -> bool:  # fmt: skip
    """Queue one notice; a repeated `key` (e.g. an SLA breach already announced) is not queued again."""
    data = details.as_data() if details is not None else {}
    return await outbox.enqueue(
        session, kind=TicketKind.STAFF_NOTICE, dedupe_key=f"staff:{ticket.id}:{key or f'{kind}:{uuid.uuid4().hex}'}",
        due_at=now, customer_id=ticket.customer_id,
        payload={"ticket_id": ticket.id, "kind": kind, "text": text, "actor": actor, "data": data},
    )  # fmt: skip


async def build_notice(session: AsyncSession, settings: Settings, payload: dict[str, Any]) -> StaffNotice | None:
    """The notice a queued payload stands for, with its ticket as it is now; None when there is nothing to post: the
    ticket is gone, or the kind is one this version does not know (queued by a newer one: the desk shows nothing)."""
    ticket = await session.get(Ticket, int(payload["ticket_id"]))
    if ticket is None:
        return None
    try:
        kind = StaffNoticeKind(payload["kind"])
    except ValueError:
        log.warning("ticket %s: a staff notice of unknown kind %r is not posted", ticket.ref, payload["kind"])
        return None
    return StaffNotice(
        kind=kind, ticket=await ticket_view(session, settings, ticket),
        text=payload.get("text", ""), actor=payload.get("actor", ""),
        details=NoticeDetails.from_data(payload.get("data") or {}),
    )  # fmt: skip


async def ticket_view(session: AsyncSession, settings: Settings, ticket: Ticket) -> TicketView:
    """Everything a staff-facing message shows about a ticket."""
    customer = await session.get(Customer, ticket.customer_id)
    assignee = await session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    member = next((m for m in settings.staff if assignee and m.key == assignee.key), None)
    backup = next((m for m in settings.staff if member and m.key == member.backup), None)
    zone = zone_of(settings)
    recent = (
        await session.execute(
            select(Message)
            .where(Message.customer_id == ticket.customer_id, Message.direction == "in")
            .order_by(Message.id.desc())
            .limit(settings.slack.transcript_lines)
        )
    ).scalars()
    channels = (
        await session.execute(select(ChannelIdentity.channel).where(ChannelIdentity.customer_id == ticket.customer_id))
    ).scalars()
    return TicketView(
        id=ticket.id, ref=ticket.ref or "", kind=ticket.kind, status=TicketStatus(ticket.status),
        category=ticket.category, severity=ticket.severity, summary=ticket.summary, description=ticket.description,
        channel=ticket.channel, attachments=tuple(Attachment.from_data(a) for a in ticket.attachments or ()),
        customer=TicketCustomer(
            id=ticket.customer_id,
            name=(customer.display_name if customer else None) or f"Customer #{ticket.customer_id}",
            tier=customer.tier if customer else "standard", language=customer.language if customer else None,
            channels=tuple(sorted(set(channels))),
        ),
        assignee=_person(member, assignee), backup=_person(backup, None),
        first_response_due=when(ticket.first_response_due, zone), resolution_due=when(ticket.resolution_due, zone),
        first_responded=ticket.first_responded_at is not None, sla_breached=ticket.sla_breached,
        resolution=ticket.resolution or "", compensation=ticket.compensation or "", csat_score=ticket.csat_score,
        reopened_count=ticket.reopened_count,
        desk_channel=ticket.desk_channel
        or settings.slack.channels.get(ticket.category)
        or settings.slack.channels.get("default"),
        desk_thread=ticket.desk_thread,
        recent_messages=tuple(m.text or "" for m in reversed(list(recent))), incident=ticket.incident_label,
    )  # fmt: skip


def _person(member: StaffMember | None, row: Staff | None) -> Person | None:
    if member is not None:
        return Person(member.key, member.name, member.slack_user_id)
    return Person(row.key, row.name, row.slack_user_id) if row is not None else None


def person_of(staff: Sequence[StaffMember], row: Staff | None) -> Person | None:
    """A staff member as notices show them (key, name, Slack id), config.yaml first, else the stored row."""
    return _person(next((m for m in staff if row and m.key == row.key), None), row)


def person_by_key(staff: Sequence[StaffMember], key: str) -> Person | None:
    return _person(next((m for m in staff if m.key == key), None), None)


def zone_of(settings: Settings) -> ZoneInfo:
    return settings.business.zone


def when(moment: datetime | None, zone: ZoneInfo) -> Deadline | None:
    if moment is None:
        return None
    return Deadline(iso=moment.isoformat(), text=moment.astimezone(zone).strftime("%a %d %b %H:%M %Z"))
