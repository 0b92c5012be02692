"""The read side of tickets for adapters (Slack, the CLI): a ticket by reference or by its desk thread, lists, one
ticket's details with its timeline, and who routing would choose. Each call is its own read; adapters never open a
session or build a query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.customers import privacy
from bot.customers.models import Customer
from bot.customers.privacy import CustomerRef
from bot.ports import Clock
from bot.storage.database import Database
from bot.tickets import desk, directory, records, sla
from bot.tickets.models import UNRESOLVED_STATUSES, Staff, Ticket, TicketStatus
from bot.tickets.routing import RoutingDecision
from bot.tickets.views import TicketDetails, TicketLine, TicketView, TimelineEntry


@dataclass(frozen=True)
class RoutingExplanation:
    """Who routing would choose for a new ticket of a customer, and the customer facts it went by."""

    customer_id: int
    customer_name: str | None
    tier: str
    language: str | None
    account_manager: str | None
    at: datetime
    decision: RoutingDecision


@dataclass(frozen=True)
class TicketPage:
    """Some lines of a ticket list, how many tickets the list has in all, and how many its status filter hides."""

    lines: list[TicketLine]
    total: int
    hidden: int


class TicketQueries:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    async def view(self, ref: str) -> TicketView | None:
        """The ticket `ref` as staff see it; None when there is no such ticket (or it was erased)."""
        async with self.db.sessions() as session:
            ticket = await records.get_by_ref(session, ref)
            return await desk.ticket_view(session, self.settings, ticket) if ticket is not None else None

    async def ref_by_thread(self, channel: str, thread: str) -> str | None:
        """The reference of the ticket whose escalation message is `thread` in `channel`, if any."""
        query = select(Ticket.ref).where(Ticket.desk_channel == channel, Ticket.desk_thread == thread).limit(1)
        async with self.db.sessions() as session:
            return (await session.execute(query)).scalar_one_or_none()

    async def assigned_views(self, staff_key: str) -> list[TicketView]:
        """The person's unresolved tickets as staff see them, the most urgent first."""
        async with self.db.sessions() as session:
            return [await desk.ticket_view(session, self.settings, t) for t in await _assigned(session, staff_key)]

    async def assigned_page(self, staff_key: str, *, limit: int = 100, offset: int = 0) -> TicketPage:
        """`limit` of the person's unresolved tickets from the `offset`-th most urgent, and how many they have."""
        async with self.db.sessions() as session:
            mine = await _assigned(session, staff_key)
            return TicketPage(await self._lines(session, mine[offset : offset + limit]), len(mine), 0)

    async def lines(self, *, status: str | None = None, limit: int = 100) -> list[TicketLine]:
        """The latest tickets first; `status` "open" for the unresolved ones, another status name, or None for all."""
        return (await self.page(status=status, limit=limit)).lines

    async def page(self, *, status: str | None = None, limit: int = 100, offset: int = 0) -> TicketPage:
        """`limit` tickets from the `offset`-th latest, how many match in all, and how many the status hides."""
        async with self.db.sessions() as session:
            found = await records.list_tickets(session, status=status, limit=limit, offset=offset)
            total = await records.count_tickets(session, status=status)
            hidden = 0 if status is None else await records.count_tickets(session) - total
            return TicketPage(await self._lines(session, found), total, hidden)

    async def details(self, ref: str) -> TicketDetails | None:
        """One ticket with its SLA as of now, whether each deadline was met, and its timeline."""
        async with self.db.sessions() as session:
            ticket = await records.get_by_ref(session, ref)
            if ticket is None:
                return None
            view = await desk.ticket_view(session, self.settings, ticket)
            events = await records.timeline(session, ticket.id)
        return TicketDetails(
            view=view, sla=sla.state(ticket, self.clock.now()),
            first_response_met=_met(ticket.first_response_due, ticket.first_responded_at),
            resolution_met=_met(ticket.resolution_due, ticket.resolved_at or ticket.closed_at),
            timeline=tuple(TimelineEntry(at=e.created_at, kind=e.kind, actor=e.actor, body=e.body) for e in events),
        )  # fmt: skip

    async def explain_routing(
        self, customer: CustomerRef, category: str, severity: str, at: datetime | None = None
    ) -> RoutingExplanation | None:
        """Who would get a ticket from the customer (an id, or an external id) about `category` now (or `at`), and
        why; None for no customer."""
        now = at or self.clock.now()
        async with self.db.sessions() as session:
            found = await privacy.find(session, customer)
            if found is None:
                return None
            return await self._explained(session, found, category, severity, now)

    async def _explained(
        self, session: AsyncSession, customer: Customer, category: str, severity: str, now: datetime
    ) -> RoutingExplanation:
        # A ticket that is never saved: routing sees what it would see for a new one.
        draft = Ticket(customer_id=customer.id, category=category, severity=severity)
        decision = await records.route(session, self.settings, draft, customer, now)
        manager = (customer.attributes or {}).get(self.settings.routing.account_manager_attribute)
        return RoutingExplanation(
            customer_id=customer.id, customer_name=customer.display_name, tier=customer.tier,
            language=customer.language, account_manager=str(manager) if manager else None, at=now, decision=decision,
        )  # fmt: skip

    async def _lines(self, session: AsyncSession, tickets: Sequence[Ticket]) -> list[TicketLine]:
        names = {row.id: row.name for row in (await session.execute(select(Staff))).scalars()}
        now = self.clock.now()
        return [_line(t, names.get(t.assignee_id) if t.assignee_id else None, now) for t in tickets]


async def _assigned(session: AsyncSession, staff_key: str) -> list[Ticket]:
    staff = await directory.staff_by_key(session, staff_key)
    if staff is None:
        return []
    query = (
        select(Ticket)
        .where(Ticket.assignee_id == staff.id, Ticket.status.in_(UNRESOLVED_STATUSES))
        .order_by(Ticket.first_response_due)
    )
    return list((await session.execute(query)).scalars())


def _line(ticket: Ticket, assignee: str | None, now: datetime) -> TicketLine:
    return TicketLine(
        ref=ticket.ref or "", status=TicketStatus(ticket.status), kind=ticket.kind, category=ticket.category,
        severity=ticket.severity, assignee=assignee, sla=sla.state(ticket, now), opened_at=ticket.created_at,
        summary=ticket.summary,
    )  # fmt: skip


def _met(due: datetime | None, done_at: datetime | None) -> bool | None:
    """None while the clock runs, else whether it stopped in time (no deadline counts as met)."""
    if done_at is None:
        return None
    return due is None or done_at <= due
