"""Staff notices: queued in the outbox with the ticket's change, delivered to the StaffDesk (Slack)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import Settings
from bot.customers.models import ChannelIdentity, Customer
from bot.ports import StaffNotice
from bot.tickets.kinds import TicketKind
from bot.tickets.models import Staff, Ticket
from bot.transcript import Message


async def queue_notice(
    session: AsyncSession, ticket: Ticket, kind: str, now: datetime, *, key: str | None = None, text: str = "",
    actor: str = "", data: dict[str, Any] | None = None,
) -> bool:  # fmt: skip
    """Queue one notice; a repeated `key` (e.g. an SLA breach already announced) is not queued again."""
    return await outbox.enqueue(
        session, kind=TicketKind.STAFF_NOTICE, dedupe_key=f"staff:{ticket.id}:{key or f'{kind}:{uuid.uuid4().hex}'}",
        due_at=now, customer_id=ticket.customer_id,
        payload={"ticket_id": ticket.id, "kind": kind, "text": text, "actor": actor, "data": data or {}},
    )  # fmt: skip


async def build_notice(session: AsyncSession, settings: Settings, payload: dict[str, Any]) -> StaffNotice | None:
    ticket = await session.get(Ticket, int(payload["ticket_id"]))
    if ticket is None:
        return None
    return StaffNotice(
        kind=payload["kind"], ticket=await ticket_view(session, settings, ticket), text=payload.get("text", ""),
        actor=payload.get("actor", ""), data=payload.get("data", {}),
    )  # fmt: skip


async def ticket_view(session: AsyncSession, settings: Settings, ticket: Ticket) -> dict[str, Any]:
    """Everything a staff-facing message shows about a ticket, as plain data."""
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
    return {
        "id": ticket.id,
        "ref": ticket.ref,
        "kind": ticket.kind,
        "status": ticket.status,
        "category": ticket.category,
        "severity": ticket.severity,
        "summary": ticket.summary,
        "description": ticket.description,
        "channel": ticket.channel,  # where the customer complained (web, telegram)
        "attachments": list(ticket.attachments or []),
        "customer": {
            "id": ticket.customer_id,
            "name": (customer.display_name if customer else None) or f"Customer #{ticket.customer_id}",
            "tier": customer.tier if customer else "standard",
            "language": customer.language if customer else None,
            "channels": sorted(set(channels)),
        },
        "assignee": _person(member, assignee),
        "backup": _person(backup, None),
        "first_response_due": when(ticket.first_response_due, zone),
        "resolution_due": when(ticket.resolution_due, zone),
        "first_responded": ticket.first_responded_at is not None,
        "sla_breached": ticket.sla_breached,
        "resolution": ticket.resolution or "",
        "compensation": ticket.compensation or "",
        "csat_score": ticket.csat_score,
        "reopened_count": ticket.reopened_count,
        "desk_channel": ticket.desk_channel
        or settings.slack.channels.get(ticket.category)
        or settings.slack.channels.get("default"),
        "desk_thread": ticket.desk_thread,
        "recent_messages": [m.text or "" for m in reversed(list(recent))],
    }


def _person(member: Any, row: Staff | None) -> dict[str, Any] | None:
    if member is None and row is None:
        return None
    return {
        "key": member.key if member else row.key,  # type: ignore[union-attr]
        "name": member.name if member else row.name,  # type: ignore[union-attr]
        "slack_user_id": member.slack_user_id if member else row.slack_user_id,  # type: ignore[union-attr]
    }


def person_of(settings: Settings, row: Staff | None) -> dict[str, Any] | None:
    """A staff member as notices show them (key, name, Slack id), config.yaml first, else the stored row."""
    return _person(next((m for m in settings.staff if row and m.key == row.key), None), row)


def person_by_key(settings: Settings, key: str) -> dict[str, Any] | None:
    return _person(next((m for m in settings.staff if m.key == key), None), None)


def zone_of(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.business.timezone)


def when(moment: datetime | None, zone: ZoneInfo) -> dict[str, str] | None:
    if moment is None:
        return None
    return {"iso": moment.isoformat(), "text": moment.astimezone(zone).strftime("%a %d %b %H:%M %Z")}
