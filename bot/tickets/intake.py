"""Where a complaint goes: a ticket of its own, or the customer's open ticket (tickets.max_open_per_customer).

A customer who complains again while a ticket of theirs is open is most often writing about the same problem, and a
script that complains over and over should not make a ticket each time: the complaint joins their latest open
ticket (its timeline, and the staff thread as a customer message). When the customer says it is a different problem,
it moves to a ticket of its own, as long as they have fewer open tickets than the limit; at the limit it stays where
it joined, so one customer never holds more than the limit.

A joined complaint more urgent than the ticket raises the ticket to its severity, and the SLA clocks with it
(counted from the complaint, never later than they were): "it's urgent now" must not keep a low ticket's week.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, TicketSettings
from bot.customers.models import Customer
from bot.tickets import desk, lifecycle, records, sla
from bot.tickets.models import UNRESOLVED_STATUSES, Ticket, TicketEvent, TicketEventKind
from bot.tickets.staffdesk import NoticeDetails, SeverityChange, StaffNoticeKind
from bot.tickets.views import TicketTemplateView

log = logging.getLogger(__name__)
# The timeline entry a joined complaint becomes: staff read it as the customer's words.
JOINED = TicketEventKind.CUSTOMER_MESSAGE
SEVERITIES = ("low", "normal", "high", "critical")  # least to most urgent (the flow schema's severities)


@dataclass(frozen=True)
class Complaint:
    """What a flow's open_ticket (or handoff) step collected, before it is known where it goes."""

    kind: str = "complaint"
    category: str = "general"
    severity: str = "normal"
    summary: str = ""
    description: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    channel: str | None = None

    def as_data(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "category": self.category, "severity": self.severity, "summary": self.summary,
            "description": self.description, "attachments": list(self.attachments), "channel": self.channel,
        }  # fmt: skip

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Complaint:
        return cls(
            kind=str(data.get("kind") or "complaint"), category=str(data.get("category") or "general"),
            severity=str(data.get("severity") or "normal"), summary=str(data.get("summary") or ""),
            description=str(data.get("description") or ""),
            attachments=tuple(a for a in data.get("attachments") or () if isinstance(a, dict)),
            channel=data.get("channel") if isinstance(data.get("channel"), str) else None,
        )  # fmt: skip


@dataclass(frozen=True)
class Intake:
    """Where the complaint went. `joined_event_id`: the timeline entry holding it, when it joined an open ticket."""

    ticket: Ticket
    open_tickets: int  # the customer's unresolved tickets now, this one included
    limit: int
    joined_event_id: int | None = None

    @property
    def joined(self) -> bool:
        return self.joined_event_id is not None

    def template_view(self, view: TicketTemplateView) -> TicketTemplateView:
        """The ticket's view for flow texts with what they can branch on besides (`ticket.joined`,
        `ticket.at_limit`)."""
        return replace(view, joined=self.joined, at_limit=self.open_tickets >= self.limit,
                       open_tickets=self.open_tickets, limit=self.limit)  # fmt: skip


async def open_or_join(
    session: AsyncSession, settings: Settings, customer_id: int, complaint: Complaint, now: datetime
) -> Intake:
    """A ticket for the complaint, or the customer's latest open ticket with the complaint added to it."""
    limit = settings.tickets.max_open_per_customer
    open_ids = await _open_ticket_ids(session, customer_id)
    if open_ids:
        latest = await session.get(Ticket, open_ids[0])
        assert latest is not None
        event = await _join(session, settings, latest, complaint, now)
        return Intake(latest, len(open_ids), limit, event.id)
    ticket = await _open(session, settings, customer_id, complaint, now)
    return Intake(ticket, 1, limit)


async def open_separately(
    session: AsyncSession, settings: Settings, customer_id: int, complaint: Complaint, now: datetime,
    joined_event_id: int | None = None,
) -> Intake:  # fmt: skip
    """A ticket of its own ("it's a different problem"). `joined_event_id`: the complaint already joined an open
    ticket in this conversation; it moves (its own words, not `complaint`) to the new ticket. At the limit nothing
    opens: the complaint stays where it joined, or joins the latest open ticket."""
    limit = settings.tickets.max_open_per_customer
    joined = await _joined_complaint(session, customer_id, joined_event_id)
    if joined is not None and joined.data.get("moved_to"):
        moved = await records.get_by_ref(session, str(joined.data["moved_to"]))
        if moved is not None:  # asked twice: the first answer already moved it
            return Intake(moved, len(await _open_ticket_ids(session, customer_id)), limit)
    open_ids = await _open_ticket_ids(session, customer_id)
    if len(open_ids) >= limit:
        if joined is not None:
            where = await session.get(Ticket, joined.ticket_id)
            assert where is not None
            return Intake(where, len(open_ids), limit, joined.id)
        return await open_or_join(session, settings, customer_id, complaint, now)
    if joined is not None:
        complaint = Complaint.from_data(joined.data.get("complaint") or {})
    ticket = await _open(session, settings, customer_id, complaint, now)
    if joined is not None:
        await _mark_moved(session, joined, ticket, now)
    return Intake(ticket, len(open_ids) + 1, limit)


async def _open(session: AsyncSession, settings: Settings, customer_id: int, complaint: Complaint,
                now: datetime) -> Ticket:  # fmt: skip
    return await records.open_ticket(
        session, settings, customer_id=customer_id, now=now, kind=complaint.kind, category=complaint.category,
        severity=complaint.severity, summary=complaint.summary, description=complaint.description,
        attachments=complaint.attachments, channel=complaint.channel,
    )  # fmt: skip


async def _join(
    session: AsyncSession, settings: Settings, ticket: Ticket, complaint: Complaint, now: datetime
) -> TicketEvent:
    """The complaint on the open ticket: its words on the timeline and in the staff thread, its files attached, and
    its severity when more urgent than the ticket's."""
    words = complaint.description or complaint.summary or "(a new complaint without words)"
    for media in complaint.attachments:
        await records.attach(session, ticket, dict(media), now)
    event = await records.add_event(session, ticket, JOINED, now, actor="customer", body=words,
                                    data={"complaint": complaint.as_data()})  # fmt: skip
    raised = await _raise_severity(session, settings.tickets, ticket, complaint.severity, now)
    kinds = [str(a.get("kind")) for a in complaint.attachments if a.get("kind") in ("photo", "document", "video")]
    # The thread shows a file's id after this note, as for a photo sent while the ticket is open; and a raised
    # severity under the words that raised it (the escalation message is redrawn with the new deadlines).
    text = f"({kinds[-1]} attached) {words}" if kinds else words
    await lifecycle.customer_wrote(session, ticket, text, now, NoticeDetails(severity_raised=raised))
    return event


async def _raise_severity(
    session: AsyncSession, cfg: TicketSettings, ticket: Ticket, severity: str, now: datetime
) -> SeverityChange | None:
    """The ticket at `severity` when that is more urgent: its SLA deadlines recounted from now for it, each kept
    where it was when that is sooner. What changed (from, to), or None."""
    if _rank(severity) <= _rank(ticket.severity):
        return None
    customer = await session.get(Customer, ticket.customer_id)
    first, resolution = sla.deadlines(cfg, severity, customer.tier if customer else "standard", now)
    change = SeverityChange(before=ticket.severity, after=severity)
    ticket.severity = severity
    if ticket.first_response_due is None or first < ticket.first_response_due:
        ticket.first_response_due = first
    if ticket.resolution_due is None or resolution < ticket.resolution_due:
        ticket.resolution_due = resolution
    due = {"first_response_due": _iso(ticket.first_response_due), "resolution_due": _iso(ticket.resolution_due)}
    await records.add_event(session, ticket, TicketEventKind.SEVERITY_RAISED, now, actor="customer",
                            body=f"{change.before} -> {severity}", data={**change.as_data(), **due})  # fmt: skip
    return change


def _rank(severity: str) -> int:
    """How urgent a severity is; one the flows do not know counts as normal."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else SEVERITIES.index("normal")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def _joined_complaint(session: AsyncSession, customer_id: int, event_id: int | None) -> TicketEvent | None:
    """The joined complaint `event_id` names, if it is one and the customer's own (the id comes from the run's
    state, but a wrong one must never move another customer's words)."""
    if event_id is None:
        return None
    event = await session.get(TicketEvent, int(event_id))
    ticket = await session.get(Ticket, event.ticket_id) if event is not None else None
    if event is None or ticket is None or ticket.customer_id != customer_id or "complaint" not in (event.data or {}):
        log.warning("customer %s: %s is not a complaint of theirs on a ticket; nothing moved", customer_id, event_id)
        return None
    return event


async def _mark_moved(session: AsyncSession, joined: TicketEvent, ticket: Ticket, now: datetime) -> None:
    """The old ticket's timeline and thread say where the complaint went, so nobody answers it twice."""
    old = await session.get(Ticket, joined.ticket_id)
    assert old is not None and ticket.ref is not None
    joined.data = {**(joined.data or {}), "moved_to": ticket.ref}
    await records.add_event(session, old, TicketEventKind.MOVED, now, actor="customer", body=ticket.ref,
                            data={"event": joined.id})  # fmt: skip
    await desk.queue_notice(session, old, StaffNoticeKind.MOVED, now, text=ticket.ref)


async def _open_ticket_ids(session: AsyncSession, customer_id: int) -> Sequence[int]:
    """The customer's unresolved tickets, newest first (the index on customer and status finds them)."""
    query = (
        select(Ticket.id)
        .where(Ticket.customer_id == customer_id, Ticket.status.in_(UNRESOLVED_STATUSES))
        .order_by(Ticket.id.desc())
    )
    return list((await session.execute(query)).scalars())
