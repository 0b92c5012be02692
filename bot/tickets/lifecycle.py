"""What staff do with a ticket (claim, reassign, reply, note, resolve) and what the customer's
follow-up answer does (close or reopen). Slack and the CLI both call these; only people in the
staff directory may act."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.conversations.models import Message
from bot.customers import service as customers
from bot.messages import Reply
from bot.outreach import outbox
from bot.ports import Clock
from bot.storage.database import Database
from bot.tickets import desk, directory, service
from bot.tickets.models import (
    CLAIMED,
    CLOSED,
    IN_PROGRESS,
    REOPENED,
    RESOLVED,
    UNRESOLVED_STATUSES,
    WAITING_ON_CUSTOMER,
    Staff,
    Ticket,
)

EVENT = "event"  # outbox kind: fire a conversation event (ticket_resolved starts the follow-up flow)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    ticket: dict[str, Any] | None = None


class TicketActions:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    async def claim(self, ref: str, staff_key: str) -> Outcome:
        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            if ticket.assignee_id == staff.id and ticket.status == CLAIMED:
                return f"{ticket.ref} is already yours"
            ticket.assignee_id, ticket.status, ticket.claimed_at = staff.id, CLAIMED, now
            await service.add_event(session, ticket, "claimed", now, actor=staff.key)
            await desk.queue_notice(session, ticket, "claimed", now, actor=staff.name)
            return f"{staff.name} claimed {ticket.ref}"

        # A finished ticket is not taken back silently: the customer's follow-up answer decides (closed
        # or reopened), and a claim in between would leave it neither closed nor reopened.
        return await self._act(ref, staff_key, act, allow_resolved=False)

    async def reassign(self, ref: str, staff_key: str, to_key: str) -> Outcome:
        target = directory.member(self.settings, to_key)
        if target is None:
            return Outcome(False, f"{to_key!r} is not in the staff directory")

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            new = await directory.staff_by_key(session, to_key)
            assert new is not None
            ticket.assignee_id, ticket.status = new.id, "assigned"
            await service.add_event(session, ticket, "reassigned", now, actor=staff.key, body=new.name)
            await desk.queue_notice(session, ticket, "reassigned", now, actor=staff.name, text=new.name)
            return f"{ticket.ref} reassigned to {new.name} by {staff.name}"

        return await self._act(ref, staff_key, act, allow_resolved=False)  # as claim: the verdict decides

    async def reply(self, ref: str, staff_key: str, text: str, source_id: str | None = None) -> Outcome:
        """A staff message reaches the customer as a message from that person, by name.

        `source_id` (e.g. the Slack message's channel and ts) makes a replayed delivery harmless, on any
        instance: the same source is sent once.
        """
        text = text.strip()
        if not text:
            return Outcome(False, "an empty reply was not sent")

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            if source_id and await _seen_source(session, ticket, source_id):
                return f"already sent to the customer of {ticket.ref}"
            if ticket.first_responded_at is None:
                ticket.first_responded_at = now
            if ticket.assignee_id is None:
                ticket.assignee_id = staff.id
            # A word after the resolution ("the refund shows in 3 days") keeps it resolved: the follow-up
            # only closes a ticket that is still resolved when the customer answers.
            if ticket.status not in (RESOLVED, CLOSED):
                ticket.status = WAITING_ON_CUSTOMER
            await service.add_event(
                session, ticket, "staff_reply", now, actor=staff.key, body=text, data={"source_id": source_id}
            )
            key = f"reply:{source_id or uuid_hex()}"
            await send_to_customer(session, ticket, Reply(f"{staff.name}: {text}"), now, key)
            return f"sent to the customer of {ticket.ref}"

        return await self._act(ref, staff_key, act)

    async def note(self, ref: str, staff_key: str, text: str, source_id: str | None = None) -> Outcome:
        if not text.strip():
            return Outcome(False, "an empty note was not added")

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            if source_id and await _seen_source(session, ticket, source_id):
                return f"note already on {ticket.ref}"
            await service.add_event(
                session, ticket, "note", now, actor=staff.key, body=text.strip(), data={"source_id": source_id}
            )
            return f"internal note added to {ticket.ref}"

        return await self._act(ref, staff_key, act)

    async def resolve(self, ref: str, staff_key: str, resolution: str, compensation: str = "") -> Outcome:
        """Resolved: the customer hears the resolution and any compensation, then is asked for CSAT."""
        if not resolution.strip():
            return Outcome(False, "a resolution summary is needed: the customer reads it")

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            ticket.status, ticket.resolved_at = RESOLVED, now
            ticket.resolution, ticket.compensation = resolution.strip(), compensation.strip() or None
            if ticket.first_responded_at is None:
                ticket.first_responded_at = now
            ticket.assignee_id = ticket.assignee_id or staff.id
            await service.add_event(session, ticket, "resolved", now, actor=staff.key, body=resolution,
                                    data={"compensation": compensation})  # fmt: skip
            await desk.queue_notice(session, ticket, "resolved", now, actor=staff.name, text=resolution)
            await outbox.enqueue(
                session, kind=EVENT, dedupe_key=f"event:ticket_resolved:{ticket.id}:{ticket.reopened_count}",
                due_at=now, customer_id=ticket.customer_id,
                payload={"event": "ticket_resolved", "data": {"ticket_id": ticket.id}},
            )  # fmt: skip
            return f"{ticket.ref} resolved by {staff.name}; the customer is asked if it is solved"

        return await self._act(ref, staff_key, act, allow_resolved=False)

    async def mine(self, staff_key: str) -> list[Ticket]:
        async with self.db.transaction() as session:
            staff = await directory.staff_by_key(session, staff_key)
            if staff is None:
                return []
            query = (
                select(Ticket)
                .where(Ticket.assignee_id == staff.id, Ticket.status.in_(UNRESOLVED_STATUSES))
                .order_by(Ticket.first_response_due)
            )
            return list((await session.execute(query)).scalars())

    async def _act(self, ref: str, staff_key: str, act: Any, allow_resolved: bool = True) -> Outcome:
        if directory.member(self.settings, staff_key) is None:
            return Outcome(False, "only people in the staff directory can do that")
        async with self.db.transaction() as session:
            ticket = await service.get_by_ref(session, ref)
            if ticket is None:
                return Outcome(False, f"no ticket {ref}")
            staff = await directory.staff_by_key(session, staff_key)
            if staff is None or not staff.active:
                return Outcome(False, "only active people in the staff directory can do that")
            if not allow_resolved and ticket.status in (RESOLVED, CLOSED):
                return Outcome(False, f"{ticket.ref} is already {ticket.status}")
            message = await act(session, ticket, staff, self.clock.now())
            return Outcome(True, message, await desk.ticket_view(session, self.settings, ticket))


async def apply_feedback(
    session: AsyncSession, settings: Settings, ticket_id: int, now: datetime, *, solved: bool | None,
    score: int | None,
) -> str:  # fmt: skip
    """The customer's answer after a resolution: close, or reopen to the same person and alert the backup."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return "unknown"
    if score is not None:
        ticket.csat_score = score
        await desk.queue_notice(session, ticket, "csat", now, data={"score": score, "solved": solved})
    unhappy = solved is False or (score is not None and score <= settings.tickets.reopen_at_or_below)
    if unhappy:
        ticket.status, ticket.resolved_at = REOPENED, None
        ticket.reopened_count += 1
        await service.add_event(session, ticket, "reopened", now, actor="customer",
                                data={"solved": solved, "score": score})  # fmt: skip
        await desk.queue_notice(session, ticket, "reopened", now, data={"solved": solved, "score": score})
        return "reopened"
    if ticket.status == RESOLVED:
        ticket.status, ticket.closed_at = CLOSED, now
        await service.add_event(session, ticket, "closed", now, actor="customer", data={"score": score})
    return "closed"


async def customer_wrote(session: AsyncSession, ticket: Ticket, text: str, now: datetime) -> None:
    """A customer message on an open ticket goes to the staff thread; an answer they waited for moves it on."""
    if ticket.status == WAITING_ON_CUSTOMER:
        ticket.status = IN_PROGRESS
    await desk.queue_notice(session, ticket, "customer_message", now, text=text)


async def send_to_customer(session: AsyncSession, ticket: Ticket, reply: Reply, now: datetime, key: str) -> None:
    """Transactional (never held by quiet hours or caps): recorded in the transcript and queued."""
    ref = await customers.preferred_ref(session, ticket.customer_id)
    if ref is None:
        return
    session.add(Message(customer_id=ticket.customer_id, direction="out", channel=ref.channel, text=reply.text,
                        payload={"text": reply.text, "ticket": ticket.ref}, created_at=now))  # fmt: skip
    await outbox.enqueue_send(session, customer_id=ticket.customer_id, ref=ref, replies=[reply],
                              dedupe_key=f"ticket:{ticket.id}:{key}", due_at=now)  # fmt: skip


async def _seen_source(session: AsyncSession, ticket: Ticket, source_id: str) -> bool:
    """Whether this ticket already has the reply or note from this source (a replayed event)."""
    from bot.tickets.models import TicketEvent

    query = select(TicketEvent.data).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(("staff_reply", "note"))
    )
    return any((data or {}).get("source_id") == source_id for data in (await session.execute(query)).scalars())


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex
