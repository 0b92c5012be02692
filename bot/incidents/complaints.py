"""What a complaint from a customer an open incident affects hears first, and the link from its ticket to the incident.
Registered with the conversation engine as a complaint hook (bot/core.py), so the engine never imports this feature."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import templating
from bot.config import Settings
from bot.customers.models import Customer
from bot.incidents import notices
from bot.incidents.audience import AudienceSpec, matching
from bot.incidents.models import OPEN, Incident, IncidentCustomer
from bot.messages import Reply
from bot.tickets import records as tickets
from bot.tickets.models import Ticket, TicketEventKind


class ComplaintAnswers:
    def __init__(self, settings: Settings):
        self.settings = settings

    async def answer_complaint(self, session: AsyncSession, customer: Customer, ticket: Ticket,
                               now: datetime) -> list[Reply]:  # fmt: skip
        """A complaint (a ticket opened or joined) from a customer an open incident affects: the ticket is linked to
        the incident, and the customer hears its status first. The customer is affected when the incident found
        them, or when its audience matches them now (an order shipped since it opened)."""
        incident = await self.affecting(session, customer.id, now)
        if incident is None:
            return []
        if ticket.incident_id != incident.id:
            ticket.incident_id, ticket.incident_label = incident.id, f"#{incident.id} {incident.title}"[:250]
            note = f"linked to incident #{incident.id}: {incident.title}"
            await tickets.add_event(session, ticket, TicketEventKind.NOTE, now, body=note,
                                    data={"incident_id": incident.id})  # fmt: skip
        view = {"incident": notices.incident_view(self.settings, incident), "customer": {"id": customer.id}}
        return [Reply(templating.render(self.settings.incidents.complaint_text, view).strip())]

    async def affecting(self, session: AsyncSession, customer_id: int, now: datetime) -> Incident | None:
        """The latest open incident that affects the customer, if any."""
        open_ones = list((await session.execute(
            select(Incident).where(Incident.status == OPEN).order_by(Incident.id.desc()))).scalars())  # fmt: skip
        if not open_ones:
            return None
        known = set((await session.execute(select(IncidentCustomer.incident_id).where(
            IncidentCustomer.customer_id == customer_id,
            IncidentCustomer.incident_id.in_([i.id for i in open_ones])))).scalars())  # fmt: skip
        for incident in open_ones:
            if incident.id in known:
                return incident
            spec = AudienceSpec.model_validate(incident.audience)
            if await matching(session, spec, now, self.settings.business.zone, only=[customer_id]):
                # An update recording the same customer at this moment is no reason to fail the complaint.
                with suppress(IntegrityError):
                    async with session.begin_nested():
                        session.add(IncidentCustomer(incident_id=incident.id, customer_id=customer_id, found_at=now))
                return incident
        return None
