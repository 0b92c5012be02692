"""Staff notices in a flood: many new tickets (or SLA reminders and breaches, or customers writing again on tickets
that were only summarised) at once for one place become one summary, and one DM per assignee, instead of one post each
(slack.fold).

Decided when a notice is about to be posted, so what counts is the rate Slack would see, a backlog released after an
outage included. Each place (the escalation channel, or the assignee's DM when tickets have no channel) has a leaky
bucket, a row in `rate_slots`: every foldable notice adds one, it drains `max_posts` per window, and it never holds
more than `max_posts`, so while notices keep coming faster than that they are all folded, and posting one by one
resumes a fraction of a window after the flood ends. A notice that finds the bucket full joins the place's digest:
an outbox row due when its collection ends (the first of a flood `collect_seconds` after folding starts, each next
one at least a window after the one before). The notice's ticket gets no Slack message of its own until someone
needs it (bot/tickets/posting.py); its timeline says it was folded.

A customer who writes again on a ticket that has no thread yet would start one (an escalation post of its own, then
the message), so that notice passes the same bucket: one more line from every visitor of a flood is folded like the
flood itself. Its words stay on the timeline (the folded entry keeps them) and open the thread when it starts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import FoldSettings, Settings
from bot.outbox.models import PENDING, OutboxItem, RateSlot
from bot.tickets import desk
from bot.tickets.kinds import TicketKind
from bot.tickets.models import Staff, Ticket, TicketEvent, TicketEventKind
from bot.tickets.staffdesk import DigestAssignee, DigestTicket, StaffDigest, StaffNotice, StaffNoticeKind

log = logging.getLogger(__name__)

# The notices a flood brings, one per ticket.
FOLDABLE = frozenset({StaffNoticeKind.OPENED, StaffNoticeKind.SLA_REMINDER, StaffNoticeKind.SLA_BREACH})
WROTE_AGAIN = StaffNoticeKind.CUSTOMER_MESSAGE  # foldable too while its ticket has no thread (it would start one)
FOLDED = TicketEventKind.FOLDED  # timeline entry of a ticket whose notice went into a digest
LISTED = 100  # notices a digest names (a Slack menu holds 100 options); beyond, they are counted
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_SLACK = timedelta(milliseconds=1)  # rounding of stored times: the max_posts-th notice must still pass

Admission = Literal["uncounted", "counted", "folded"]


async def admit(
    session: AsyncSession, cfg: FoldSettings, notice: StaffNotice, item_id: int, now: datetime
) -> Admission:
    """Right before a notice is posted: "folded" when it went into a digest instead (nothing to post now),
    "counted" when it may be posted and counts against its place (give it back with `refund` if the post fails),
    "uncounted" when folding does not apply (a thread reply, a ticket with no place)."""
    place = notice.ticket.place
    if not foldable(notice) or place is None:
        return "uncounted"
    ticket_id = notice.ticket.id
    folded = await _folded_entries(session, ticket_id)
    if any(entry.get("notice_id") == item_id for entry in folded):
        return "folded"  # the worker died after folding it, before the row was marked done
    if not await _fill(session, cfg, place, now):
        return "counted"
    digest = await _open_digest(session, cfg, place, now)
    # A ticket already in this digest (new, or its customer wrote before) is named once: more lines from the same
    # customer add nothing to the summary; they are on the timeline and open the thread when it starts.
    if notice.kind != WROTE_AGAIN or not any(entry.get("digest") == digest.dedupe_key for entry in folded):
        digest.payload = _with_entry(dict(digest.payload or {}), notice)
    data = {"notice": notice.kind, "notice_id": item_id, "digest": digest.dedupe_key}
    if notice.kind == WROTE_AGAIN:
        data["text"] = notice.text
    session.add(TicketEvent(
        ticket_id=ticket_id, kind=FOLDED, actor="system", created_at=now,
        body=f"{notice.kind}: in a summary, with others that came at once", data=data,
    ))  # fmt: skip
    return "folded"


def foldable(notice: StaffNotice) -> bool:
    """One of the notices a flood brings, one per ticket: a new ticket, an SLA alarm, or the customer writing again
    on a ticket that has no thread yet (posting it would start one, an escalation post of its own)."""
    return notice.kind in FOLDABLE or (notice.kind == WROTE_AGAIN and not notice.ticket.desk_thread)


async def unposted_messages(session: AsyncSession, ticket_id: int) -> tuple[str, ...]:
    """What the customer wrote that went into summaries while the ticket had no thread, oldest first: the thread
    that starts now shows it."""
    texts = []
    for entry in await _folded_entries(session, ticket_id):
        if entry.get("notice") == WROTE_AGAIN and isinstance(entry.get("text"), str):
            texts.append(entry["text"])
    return tuple(texts)


async def refund(session: AsyncSession, cfg: FoldSettings, notice: StaffNotice, now: datetime) -> None:
    """A counted notice that did not reach the desk (Slack down): it did not add to the place's load after all."""
    place = notice.ticket.place
    if place is not None:
        bucket = await _slot(session, f"fold:{place}", now)
        bucket.next_at = max(now, bucket.next_at - _step(cfg))


# ---- the bucket -----------------------------------------------------------------------------------------------


def _step(cfg: FoldSettings) -> timedelta:
    return timedelta(seconds=cfg.window_seconds / cfg.max_posts)


async def _fill(session: AsyncSession, cfg: FoldSettings, place: str, now: datetime) -> bool:
    """Add one notice to the place's bucket; True when it was already full (the notice is folded)."""
    window, step = timedelta(seconds=cfg.window_seconds), _step(cfg)
    bucket = await _slot(session, f"fold:{place}", now)
    level = max(bucket.next_at, now)  # the moment the bucket would be empty again
    full = level - now > window - step + _SLACK
    bucket.next_at = min(level + step, now + window)  # a folded notice counts too, but never beyond one window
    return full


async def _slot(session: AsyncSession, key: str, now: datetime) -> RateSlot:
    """The `rate_slots` row `key`, created if new and locked for this transaction (SQLite's writer lock is ours)."""
    key = key[:64]
    insert = pg_insert if _is_postgres(session) else sqlite_insert
    await session.execute(insert(RateSlot).values(key=key, next_at=_EPOCH).on_conflict_do_nothing())
    query = select(RateSlot).where(RateSlot.key == key).execution_options(populate_existing=True)
    if _is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one()


# ---- the digest ----------------------------------------------------------------------------------------------


async def _open_digest(session: AsyncSession, cfg: FoldSettings, place: str, now: datetime) -> OutboxItem:
    """The place's digest still collecting, or a new one: due `collect_seconds` from now, and at least a window
    after the place's previous one, so a long flood makes one summary per window."""
    latest = await _slot(session, f"digest:{place}", now)
    if latest.next_at > now:
        row = await _digest_row(session, _digest_key(place, latest.next_at))
        if row is not None and row.status == PENDING:
            return row
    due = max(now + timedelta(seconds=cfg.collect_seconds), latest.next_at + timedelta(seconds=cfg.window_seconds))
    latest.next_at = due
    key = _digest_key(place, due)
    payload = {"place": place, "since": now.isoformat(), "listed": [], "counts": {}, "assignees": {}, "sources": {}}
    await outbox.enqueue(
        session, kind=TicketKind.STAFF_DIGEST, dedupe_key=key, due_at=due, customer_id=None, payload=payload
    )
    row = await _digest_row(session, key)
    assert row is not None
    return row


def _digest_key(place: str, due: datetime) -> str:
    return f"staff-digest:{place}:{due.astimezone(UTC).isoformat()}"


async def _digest_row(session: AsyncSession, key: str) -> OutboxItem | None:
    query = select(OutboxItem).where(OutboxItem.dedupe_key == key[:200]).execution_options(populate_existing=True)
    if _is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def _with_entry(payload: dict[str, Any], notice: StaffNotice) -> dict[str, Any]:
    """The digest's payload with one more notice: named while fewer than LISTED are, counted always (so its size
    stays bounded however large the flood)."""
    ticket, kind = notice.ticket, notice.kind
    listed = list(payload.get("listed") or [])
    if len(listed) < LISTED:
        listed.append({"ticket_id": ticket.id, "notice": kind, "clock": notice.details.clock})
    assignee = ticket.assignee.key if ticket.assignee else ""
    counts = _bump(payload.get("counts"), kind)
    assignees = dict(payload.get("assignees") or {})
    assignees[assignee] = _bump(assignees.get(assignee), kind)
    sources = payload.get("sources") or {}
    if kind == StaffNoticeKind.OPENED:
        sources = _bump(sources, ticket.channel or "other")
    return {**payload, "listed": listed, "counts": counts, "assignees": assignees, "sources": sources}


def _bump(counts: Any, key: str) -> dict[str, int]:
    counted = dict(counts or {})
    counted[key] = int(counted.get(key, 0)) + 1
    return counted


async def _folded_entries(session: AsyncSession, ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's folded notices (their timeline entries' data), oldest first."""
    query = (
        select(TicketEvent.data)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == FOLDED)
        .order_by(TicketEvent.id)
    )
    return [dict(data or {}) for data in (await session.execute(query)).scalars()]


async def build_digest(
    session: AsyncSession, settings: Settings, key: str, payload: dict[str, Any], now: datetime
) -> StaffDigest:
    """What the desk posts for a digest row: the listed tickets as they are now, and every count."""
    listed = [e for e in payload.get("listed") or () if isinstance(e, dict)]
    ids = [int(e["ticket_id"]) for e in listed]
    tickets = {t.id: t for t in (await session.execute(select(Ticket).where(Ticket.id.in_(ids)))).scalars()}
    staff_ids = {t.assignee_id for t in tickets.values() if t.assignee_id}
    staff = {s.id: s for s in (await session.execute(select(Staff).where(Staff.id.in_(staff_ids)))).scalars()}
    zone = desk.zone_of(settings)
    views: list[DigestTicket] = []
    for entry in listed:
        ticket = tickets.get(int(entry["ticket_id"]))
        if ticket is None:
            continue  # erased since (the customer asked to be forgotten); still counted
        assignee = staff.get(ticket.assignee_id) if ticket.assignee_id else None
        clock = str(entry.get("clock") or "")
        due = ticket.resolution_due if clock == "resolution" else ticket.first_response_due
        views.append(DigestTicket(
            id=ticket.id, ref=ticket.ref or "", summary=ticket.summary, severity=ticket.severity, status=ticket.status,
            channel=ticket.channel, notice=StaffNoticeKind(str(entry["notice"])), clock=clock or None,
            due=desk.when(due, zone), assignee=desk.person_of(settings.staff, assignee),
        ))  # fmt: skip
    assignees = {}
    for key_, counts in (payload.get("assignees") or {}).items():
        row = next((s for s in staff.values() if s.key == key_), None)
        member = desk.person_of(settings.staff, row) if row is not None else desk.person_by_key(settings.staff, key_)
        assignees[key_] = DigestAssignee(person=member, counts={str(k): int(v) for k, v in counts.items()})
    since = datetime.fromisoformat(str(payload.get("since") or now.isoformat()))
    return StaffDigest(
        key=key, place=str(payload.get("place") or ""), since=since, until=now,
        counts={str(k): int(v) for k, v in (payload.get("counts") or {}).items()}, tickets=tuple(views),
        assignees=assignees, sources={str(k): int(v) for k, v in (payload.get("sources") or {}).items()},
        max_posts=settings.slack.fold.max_posts, window_seconds=settings.slack.fold.window_seconds,
    )  # fmt: skip


def _is_postgres(session: AsyncSession) -> bool:
    return bool(session.bind is not None and session.bind.dialect.name == "postgresql")
