"""What staff do with a ticket (claim, reassign, reply, note, resolve) and what the customer's
follow-up answer does (close or reopen). Slack and the CLI both call these; only people in the
staff directory may act."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, transcript
from bot.config import Settings, TicketSettings
from bot.customers import records as customers
from bot.customers.kinds import CustomerKind
from bot.messages import Reply
from bot.ports import Clock
from bot.rewards import claims as rewards
from bot.storage.database import Database
from bot.tickets import desk, directory, records
from bot.tickets.models import FINISHED_STATUSES, Staff, Ticket, TicketEvent, TicketEventKind, TicketStatus
from bot.tickets.staffdesk import NoticeDetails, StaffNoticeKind
from bot.tickets.views import TicketView

TICKET_EVENTS = frozenset({"ticket_resolved"})  # conversation events whose flows are about one ticket
# What one staff action does to a ticket, in the action's transaction; returns what to tell the person.
Act = Callable[[AsyncSession, Ticket, Staff, datetime], Awaitable[str]]
SENT_OR_NOTED = (TicketEventKind.STAFF_REPLY, TicketEventKind.NOTE)  # a thread reply's outcome: one per source
MAX_ID = 2**31 - 1  # ids are INTEGER columns on PostgreSQL: a larger number must not reach a query


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    ticket: TicketView | None = None
    held_id: int | None = None  # `hold`: the held reply, for the author's decision


class _Refused(Exception):
    """An action that found the ticket but must not change it: the message says why (nothing is written)."""


class TicketActions:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    async def claim(self, ref: str, staff_key: str) -> Outcome:
        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            if ticket.assignee_id == staff.id and ticket.status == TicketStatus.CLAIMED:
                return f"{ticket.ref} is already yours"
            ticket.assignee_id, ticket.status, ticket.claimed_at = staff.id, TicketStatus.CLAIMED, now
            await records.add_event(session, ticket, TicketEventKind.CLAIMED, now, actor=staff.key)
            await desk.queue_notice(session, ticket, StaffNoticeKind.CLAIMED, now, actor=staff.name)
            return f"{staff.name} claimed {ticket.ref}"

        # A finished ticket is not taken back silently: the customer's follow-up answer decides (closed
        # or reopened), and a claim in between would leave it neither closed nor reopened.
        return await self._act(ref, staff_key, act, allow_resolved=False)

    async def reassign(self, ref: str, staff_key: str, to_key: str) -> Outcome:
        target = directory.member(self.settings.staff, to_key)
        if target is None:
            return Outcome(False, f"{to_key!r} is not in the staff directory")

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            new = await directory.staff_by_key(session, to_key)
            assert new is not None
            ticket.assignee_id, ticket.status = new.id, TicketStatus.ASSIGNED
            await records.add_event(session, ticket, TicketEventKind.REASSIGNED, now, actor=staff.key, body=new.name)
            await desk.queue_notice(session, ticket, StaffNoticeKind.REASSIGNED, now, actor=staff.name, text=new.name)
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
            return await _reply(session, ticket, staff, now, text, source_id)

        return await self._act(ref, staff_key, act)

    async def note(self, ref: str, staff_key: str, text: str, source_id: str | None = None) -> Outcome:
        if not text.strip():
            return Outcome(False, "an empty note was not added")

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            return await _note(session, ticket, staff, now, text.strip(), source_id)

        return await self._act(ref, staff_key, act)

    async def hold(self, ref: str, staff_key: str, text: str, source_id: str | None = None) -> Outcome:
        """A thread reply that may have been meant as an internal note: neither sent nor noted until its author
        says which (`release`). The outcome's `held_id` names it; the same source is held once."""
        text = text.strip()
        if not text:
            return Outcome(False, "an empty reply was not sent")
        held: list[int] = []

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            found = await _events_from(session, ticket, source_id, (TicketEventKind.HELD_REPLY,)) if source_id else []
            event = found[0] if found else await records.add_event(
                session, ticket, TicketEventKind.HELD_REPLY, now, actor=staff.key, body=text,
                data={"source_id": source_id},
            )  # fmt: skip
            held.append(event.id)
            return f"held back from the customer of {ticket.ref} until {staff.name} decides"

        outcome = await self._act(ref, staff_key, act)
        return replace(outcome, held_id=held[0]) if held else outcome

    async def release(self, ref: str, staff_key: str, held_id: int, *, send: bool) -> Outcome:
        """The author's decision on a held reply: send it to the customer, or keep it as an internal note. Only the
        author decides, once."""

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            event = await session.get(TicketEvent, held_id) if 0 < held_id <= MAX_ID else None
            if event is None or event.ticket_id != ticket.id or event.kind != TicketEventKind.HELD_REPLY:
                raise _Refused(f"{ticket.ref} has no such held reply")
            if event.actor != staff.key:
                raise _Refused(f"only its author can decide what happens to that reply on {ticket.ref}")
            decided = (event.data or {}).get("decided")
            if decided:
                raise _Refused(f"that reply was already {'sent' if decided == 'sent' else 'kept as a note'}")
            event.data = {**(event.data or {}), "decided": "sent" if send else "note"}
            source = (event.data or {}).get("source_id")
            if send:
                return await _reply(session, ticket, staff, now, event.body, source)
            return await _note(session, ticket, staff, now, event.body, source)

        return await self._act(ref, staff_key, act)

    async def show(self, ref: str, staff_key: str) -> Outcome:
        """Someone wants to work on a ticket the desk only listed in a summary (a flood was folded): the desk
        shows it, with its buttons, and points the person to it."""

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            await desk.queue_notice(session, ticket, StaffNoticeKind.SHOWN, now, actor=staff.name,
                                    details=NoticeDetails(slack_user_id=staff.slack_user_id))  # fmt: skip
            return f"{ticket.ref} is on its way to {staff.name}"

        return await self._act(ref, staff_key, act)

    async def resolve(
        self, ref: str, staff_key: str, resolution: str, compensation: str = "", reward: str | None = None
    ) -> Outcome:
        """Resolved: the customer hears the resolution and any compensation (with `reward`, a code of that pool; after
        a breached SLA, the goodwill pool's when configured), then is asked for CSAT."""
        if not resolution.strip():
            return Outcome(False, "a resolution summary is needed: the customer reads it")
        if reward and reward not in self.settings.rewards.pools:
            return Outcome(False, f"no reward pool {reward!r} under rewards.pools in the settings")

        async def act(session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime) -> str:
            nonlocal compensation
            gift = await compensation_reward(session, self.settings, ticket, staff, now, reward)
            compensation = "; ".join(part for part in (compensation.strip(), gift) if part)
            ticket.status, ticket.resolved_at = TicketStatus.RESOLVED, now
            ticket.resolution, ticket.compensation = resolution.strip(), compensation.strip() or None
            if ticket.first_responded_at is None:
                ticket.first_responded_at = now
            ticket.assignee_id = ticket.assignee_id or staff.id
            await records.add_event(session, ticket, TicketEventKind.RESOLVED, now, actor=staff.key, body=resolution,
                                    data={"compensation": compensation})  # fmt: skip
            await desk.queue_notice(session, ticket, StaffNoticeKind.RESOLVED, now, actor=staff.name, text=resolution)
            await outbox.enqueue(
                session, kind=CustomerKind.EVENT,
                dedupe_key=f"event:ticket_resolved:{ticket.id}:{ticket.reopened_count}",
                due_at=now, customer_id=ticket.customer_id,
                payload={"event": "ticket_resolved", "data": {"ticket_id": ticket.id}},
            )  # fmt: skip
            given = f"; compensation: {gift}" if gift else ""
            return f"{ticket.ref} resolved by {staff.name}{given}; the customer is asked if it is solved"

        return await self._act(ref, staff_key, act, allow_resolved=False)

    async def _act(self, ref: str, staff_key: str, act: Act, allow_resolved: bool = True) -> Outcome:
        if directory.member(self.settings.staff, staff_key) is None:
            return Outcome(False, "only people in the staff directory can do that")
        async with self.db.transaction() as session:
            ticket = await records.get_by_ref(session, ref)
            if ticket is None:
                return Outcome(False, f"no ticket {ref}")
            staff = await directory.staff_by_key(session, staff_key)
            if staff is None or not staff.active:
                return Outcome(False, "only active people in the staff directory can do that")
            if not allow_resolved and ticket.status in FINISHED_STATUSES:
                return Outcome(False, f"{ticket.ref} is already {ticket.status}")
            try:
                message = await act(session, ticket, staff, self.clock.now())
            except _Refused as refused:
                return Outcome(False, str(refused))
            return Outcome(True, message, await desk.ticket_view(session, self.settings, ticket))


async def compensation_reward(
    session: AsyncSession, settings: Settings, ticket: Ticket, staff: Staff, now: datetime, pool: str | None
) -> str:
    """The reward a resolution gives, as the customer reads it: a code of `pool`, else (after a breached SLA) of the
    goodwill pool when configured; "" when none is due."""
    goodwill = settings.rewards.goodwill_on_sla_breach
    why = "ticket"
    if pool is None and goodwill is not None and ticket.sla_breached:
        pool, why = goodwill.pool, "goodwill"
    if pool is None:
        return ""
    given = await rewards.claim(session, settings, pool, ticket.customer_id, now, reason=f"{why}:{ticket.ref}",
                                given_by=staff.key)  # fmt: skip
    return rewards.compensation_text(settings, given)


async def apply_feedback(
    session: AsyncSession, cfg: TicketSettings, ticket_id: int, now: datetime, *, solved: bool | None,
    score: int | None,
) -> str:  # fmt: skip
    """The customer's answer after a resolution: close, or reopen to the same person and alert the backup."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return "unknown"
    if score is not None:
        ticket.csat_score = score
        await desk.queue_notice(
            session, ticket, StaffNoticeKind.CSAT, now, details=NoticeDetails(score=score, solved=solved)
        )
    unhappy = solved is False or (score is not None and score <= cfg.reopen_at_or_below)
    if unhappy:
        ticket.status, ticket.resolved_at = TicketStatus.REOPENED, None
        ticket.reopened_count += 1
        await records.add_event(session, ticket, TicketEventKind.REOPENED, now, actor="customer",
                                data={"solved": solved, "score": score})  # fmt: skip
        await desk.queue_notice(session, ticket, StaffNoticeKind.REOPENED, now,
                                details=NoticeDetails(score=score, solved=solved))  # fmt: skip
        return "reopened"
    if ticket.status == TicketStatus.RESOLVED:
        ticket.status, ticket.closed_at = TicketStatus.CLOSED, now
        await records.add_event(session, ticket, TicketEventKind.CLOSED, now, actor="customer", data={"score": score})
    return "closed"


async def customer_wrote(
    session: AsyncSession, ticket: Ticket, text: str, now: datetime, details: NoticeDetails | None = None
) -> None:
    """A customer message on an open ticket goes to the staff thread; an answer they waited for moves it on."""
    if ticket.status == TicketStatus.WAITING_ON_CUSTOMER:
        ticket.status = TicketStatus.IN_PROGRESS
    await desk.queue_notice(session, ticket, StaffNoticeKind.CUSTOMER_MESSAGE, now, text=text, details=details)


async def send_to_customer(session: AsyncSession, ticket: Ticket, reply: Reply, now: datetime, key: str) -> None:
    """Transactional (never held by quiet hours or caps): recorded in the transcript and queued."""
    ref = await customers.preferred_ref(session, ticket.customer_id)
    if ref is None:
        return
    await transcript.record_outbound(session, ticket.customer_id, ref.channel, [reply], now, ticket_ref=ticket.ref)
    await outbox.enqueue_send(session, customer_id=ticket.customer_id, ref=ref, replies=[reply],
                              dedupe_key=f"ticket:{ticket.id}:{key}", due_at=now)  # fmt: skip


async def ticket_of_customer(session: AsyncSession, customer_id: int, ticket_id: object) -> Ticket | None:
    """The ticket `ticket_id` names, only if it exists and is this customer's (a conversation's answers about a
    ticket must never reach another customer's ticket, nor count without one)."""
    if isinstance(ticket_id, str) and ticket_id.isascii() and ticket_id.isdigit():
        ticket_id = int(ticket_id)
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or not 0 < ticket_id <= MAX_ID:
        return None
    ticket = await session.get(Ticket, ticket_id)
    return ticket if ticket is not None and ticket.customer_id == customer_id else None


async def _reply(
    session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime, text: str, source_id: str | None
) -> str:
    if source_id and await _events_from(session, ticket, source_id, SENT_OR_NOTED):
        return f"already sent to the customer of {ticket.ref}"
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    if ticket.assignee_id is None:
        ticket.assignee_id = staff.id
    # A word after the resolution ("the refund shows in 3 days") keeps it resolved: the follow-up
    # only closes a ticket that is still resolved when the customer answers.
    if ticket.status not in FINISHED_STATUSES:
        ticket.status = TicketStatus.WAITING_ON_CUSTOMER
    await records.add_event(
        session, ticket, TicketEventKind.STAFF_REPLY, now, actor=staff.key, body=text, data={"source_id": source_id}
    )
    key = f"reply:{source_id or uuid_hex()}"
    await send_to_customer(session, ticket, Reply(f"{staff.name}: {text}"), now, key)
    return f"sent to the customer of {ticket.ref}"


async def _note(
    session: AsyncSession, ticket: Ticket, staff: Staff, now: datetime, text: str, source_id: str | None
) -> str:
    if source_id and await _events_from(session, ticket, source_id, SENT_OR_NOTED):
        return f"note already on {ticket.ref}"
    await records.add_event(
        session, ticket, TicketEventKind.NOTE, now, actor=staff.key, body=text, data={"source_id": source_id}
    )
    return f"internal note added to {ticket.ref}"


async def _events_from(
    session: AsyncSession, ticket: Ticket, source_id: str, kinds: tuple[TicketEventKind, ...]
) -> list[TicketEvent]:
    """This ticket's entries of `kinds` made from this source (a replayed event finds the first one's)."""
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(kinds))
    return [e for e in (await session.execute(query)).scalars() if (e.data or {}).get("source_id") == source_id]


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex
