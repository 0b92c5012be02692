"""Telling the affected customers: one outbox row per customer per notice (opening, update, resolution).

A notice is transactional: the frequency cap never holds it and a customer busy in a conversation or with an open
ticket still gets it (it is news about their problem). It respects quiet hours unless the incident is critical, and
it never reaches a customer who opted out or whom the channel refused. Each row's dedupe key makes it one message
per customer per notice however many instances plan or send (rows are claimed with SKIP LOCKED and leases); the
row becomes a plain send of the rendered text when carried out, so it goes out in order with the customer's other
messages and is in their transcript."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, templating, transcript
from bot.config import Settings
from bot.customers import records as customers
from bot.customers.models import Customer
from bot.incidents.models import RESOLVED, Incident, IncidentCustomer, IncidentNotice
from bot.messages import Reply
from bot.outbox import Claimed, Handler
from bot.outbox.models import PENDING, OutboxItem
from bot.outreach.delivery.policy import customer_zone, quiet_until
from bot.ports import Clock
from bot.storage.database import Database

log = logging.getLogger(__name__)
CRITICAL = "critical"
CHUNK = 1000  # rows per INSERT when queueing a notice for many customers


class IncidentKind(StrEnum):
    # One customer's copy of one incident notice (payload: incident, seq).
    NOTICE = "incident_notice"


def incident_view(settings: Settings, incident: Incident, notice: IncidentNotice | None = None) -> dict[str, Any]:
    """What the notice texts see as `incident`."""
    zone = settings.business.zone
    next_update = incident.next_update_at.astimezone(zone).strftime("%a %d %b %H:%M") if incident.next_update_at else ""
    if incident.status == RESOLVED:
        next_update = ""
    return {
        "ref": f"#{incident.id}", "id": incident.id, "title": incident.title,
        "what_happened": incident.what_happened, "what_we_do": incident.what_we_do, "next_update": next_update,
        "severity": incident.severity, "status": incident.status, "message": notice.body if notice else "",
    }  # fmt: skip


def notice_text(settings: Settings, incident: Incident, notice: IncidentNotice, customer: Customer) -> str:
    cfg = settings.incidents
    template = {"opened": cfg.opened_text, "resolved": cfg.resolved_text}.get(notice.kind, cfg.update_text)
    return templating.render(
        template, {"incident": incident_view(settings, incident, notice), "customer": customers.template_view(customer)}
    ).strip()


async def plan(
    session: AsyncSession, settings: Settings, incident: Incident, notice: IncidentNotice, customer_ids: list[int],
    now: datetime,
) -> int:  # fmt: skip
    """Queue the notice for these customers: now when critical, else at the end of their quiet hours; spread at the
    proactive send rate, so a reply queued meanwhile waits behind the notices due before it, not behind all of them.
    Returns how many rows were queued (a customer already queued for this notice is not queued again)."""
    quiet = settings.outreach.quiet_hours if incident.severity != CRITICAL else None
    pace = max(settings.telegram.max_per_second * settings.outreach.broadcast_share, 1.0)
    table = OutboxItem.__table__
    insert = pg_insert if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    payload = {"incident": incident.id, "seq": notice.seq}
    queued = 0
    for start in range(0, len(customer_ids), CHUNK):
        chunk = customer_ids[start : start + CHUNK]
        zones: dict[int, str | None] = {}
        if quiet is not None:
            rows = await session.execute(select(Customer.id, Customer.timezone).where(Customer.id.in_(chunk)))
            zones = {customer_id: timezone for customer_id, timezone in rows}
        values = []
        for n, customer_id in enumerate(chunk, start=start):
            due = now + timedelta(seconds=n // pace)  # a second's worth at a time
            if quiet is not None:
                zone = customer_zone(Customer(timezone=zones.get(customer_id)), settings.business.zone)
                due = max(due, quiet_until(now, zone, quiet) or now)
            values.append({
                "kind": IncidentKind.NOTICE, "dedupe_key": f"incident:{incident.id}:{notice.seq}:{customer_id}",
                "due_at": due, "customer_id": customer_id, "payload": payload, "proactive": False,
                "status": PENDING, "attempts": 0, "created_at": now,
            })  # fmt: skip
        queued += len((await session.execute(statement, values)).all())
    return queued


class IncidentNotices:
    """The dispatcher's handler for incident notices."""

    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    def outbox_handlers(self) -> dict[str, Handler]:
        return {IncidentKind.NOTICE: Handler(self.carry_out, needs_customer=True)}

    async def carry_out(self, item: Claimed) -> bool:
        """The notice as a plain send to the customer, or nothing (with the reason kept) when it must not go; False
        while the customer's quiet hours last (it is tried again later)."""
        assert item.customer_id is not None
        async with self.db.transaction() as session:
            now = self.clock.now()
            customer = (await session.execute(
                select(Customer).where(Customer.id == item.customer_id).with_for_update()
            )).scalar_one_or_none()  # fmt: skip
            incident = await session.get(Incident, int(item.payload["incident"]))
            if customer is None or incident is None:
                return True
            seq = int(item.payload["seq"])
            which = select(IncidentNotice).where(IncidentNotice.incident_id == incident.id, IncidentNotice.seq == seq)
            notice = (await session.execute(which)).scalar_one_or_none()
            if notice is None:
                return True
            ref = await customers.preferred_ref(session, customer.id)
            skipped = self._not_sent(incident, notice, customer, ref is not None, now)
            if skipped == _WAIT:
                return False
            if skipped is not None:
                await _mark(session, incident.id, customer.id, skipped=skipped)
                return True
            assert ref is not None
            reply = Reply(notice_text(self.settings, incident, notice, customer))
            key = f"incident-send:{incident.id}:{seq}:{customer.id}"
            # Carried out before by a worker that died before marking this row done: the send is queued already.
            if not await outbox.enqueue_send(session, customer_id=customer.id, ref=ref, replies=[reply],
                                             dedupe_key=key, due_at=now):  # fmt: skip
                return True
            await transcript.record_outbound(session, customer.id, ref.channel, [reply], now)
            await _mark(session, incident.id, customer.id, now=now)
        return True

    def _not_sent(
        self, incident: Incident, notice: IncidentNotice, customer: Customer, reachable: bool, now: datetime
    ) -> str | None:
        """Why this notice does not go to this customer now (_WAIT: quiet hours), or None when it goes."""
        if not customer.subscribed:
            return "opted out"
        if customer.unreachable:
            return "unreachable (the channel refused the last message)"
        if not reachable:
            return "no chat identity (never wrote to the bot)"
        quiet = self.settings.outreach.quiet_hours
        if quiet is not None and incident.severity != CRITICAL:
            if quiet_until(now, customer_zone(customer, self.settings.business.zone), quiet) is not None:
                return _WAIT
        return None


_WAIT = "wait"


async def _mark(
    session: AsyncSession,
    incident_id: int,
    customer_id: int,
    *,
    now: datetime | None = None,
    skipped: str | None = None,
) -> None:
    where = (IncidentCustomer.incident_id == incident_id, IncidentCustomer.customer_id == customer_id)
    values: dict[str, Any] = {"skipped": skipped} if skipped is not None else {
        "notified": IncidentCustomer.notified + 1, "last_notified_at": now, "skipped": None}  # fmt: skip
    await session.execute(update(IncidentCustomer).where(*where).values(**values))
