"""The staff directory in the database (synced from config.yaml) and what routing needs to know."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, StaffMember
from bot.tickets.models import UNRESOLVED_STATUSES, Staff, Ticket, TicketEvent, TicketEventKind
from bot.tickets.routing import Workload


async def sync(session: AsyncSession, settings: Settings) -> None:
    """Make the staff table match config.yaml; people removed from the file become inactive."""
    existing = {s.key: s for s in (await session.execute(select(Staff))).scalars()}
    for member in settings.staff:
        row = existing.pop(member.key, None)
        if row is None:
            session.add(Staff(key=member.key, name=member.name, slack_user_id=member.slack_user_id,
                              email=member.email, active=member.active))  # fmt: skip
        else:
            row.name, row.slack_user_id, row.email, row.active = (
                member.name, member.slack_user_id, member.email, member.active,
            )  # fmt: skip
    for row in existing.values():
        row.active = False
    await session.flush()


def member(staff: Sequence[StaffMember], key: str | None) -> StaffMember | None:
    """The person `key` of the staff directory (config.yaml), if there is one."""
    return next((m for m in staff if m.key == key), None) if key else None


def member_by_slack_id(staff: Sequence[StaffMember], slack_user_id: str) -> StaffMember | None:
    return next((m for m in staff if m.slack_user_id == slack_user_id), None)


async def staff_by_key(session: AsyncSession, key: str) -> Staff | None:
    return (await session.execute(select(Staff).where(Staff.key == key))).scalar_one_or_none()


async def workload(session: AsyncSession) -> Workload:
    open_counts = await session.execute(
        select(Staff.key, func.count(Ticket.id))
        .join(Ticket, Ticket.assignee_id == Staff.id)
        .where(Ticket.status.in_(UNRESOLVED_STATUSES))
        .group_by(Staff.key)
    )
    last = await session.execute(
        select(Staff.key, func.max(TicketEvent.created_at))
        .join(Ticket, Ticket.assignee_id == Staff.id)
        .join(TicketEvent, (TicketEvent.ticket_id == Ticket.id) & (TicketEvent.kind == TicketEventKind.ASSIGNED))
        .group_by(Staff.key)
    )
    last_assigned: dict[str, datetime] = {}
    for key, when in last:
        if when is not None:
            # SQLite hands back naive text from an aggregate; the stored values are UTC.
            last_assigned[key] = when if isinstance(when, datetime) and when.tzinfo else _as_utc(when)
    return Workload(open_tickets=dict(open_counts.all()), last_assigned=last_assigned)  # type: ignore[arg-type]


def _as_utc(value: object) -> datetime:
    from datetime import UTC

    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC)


async def previous_handler(session: AsyncSession, customer_id: int, before_ticket_id: int | None) -> str | None:
    """Who had the customer's last ticket before this one. None for a ticket not saved yet (`routing
    explain`): all their tickets count, where `id < NULL` would have matched none."""
    query = (
        select(Staff.key)
        .join(Ticket, Ticket.assignee_id == Staff.id)
        .where(Ticket.customer_id == customer_id)
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    if before_ticket_id is not None:
        query = query.where(Ticket.id < before_ticket_id)
    return (await session.execute(query)).scalar_one_or_none()
