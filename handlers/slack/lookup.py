"""The few ticket reads Slack needs: which ticket a thread belongs to, and a ticket's view by reference."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from bot.core import Core
from bot.tickets import desk, records
from bot.tickets.models import Ticket


async def ticket_ref_by_thread(core: Core, channel: str, thread_ts: str) -> str | None:
    """The reference of the ticket whose escalation message is `thread_ts` in `channel`, if any."""
    query = select(Ticket.ref).where(Ticket.desk_channel == channel, Ticket.desk_thread == thread_ts).limit(1)
    async with core.db.sessions() as session:
        return (await session.execute(query)).scalar_one_or_none()


async def ticket_view(core: Core, ref: str) -> dict[str, Any] | None:
    async with core.db.sessions() as session:
        ticket = await records.get_by_ref(session, ref)
        return await desk.ticket_view(session, core.settings, ticket) if ticket is not None else None


async def ticket_views(core: Core, tickets: Iterable[Ticket]) -> list[dict[str, Any]]:
    async with core.db.sessions() as session:
        views = []
        for ticket in tickets:
            fresh = await session.get(Ticket, ticket.id)
            if fresh is not None:
                views.append(await desk.ticket_view(session, core.settings, fresh))
        return views
