"""Carrying out staff notices from the outbox: one ticket's notices in order, folded into a digest in a flood
(bot/tickets/folding.py), and a ticket's thread started late, by the first notice that needs one, when its opening
was folded (or never reached the desk), showing first what the customer wrote meanwhile."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.config import Settings
from bot.outreach import outbox
from bot.ports import Clock, DeliveryError, StaffDesk
from bot.storage.database import Database
from bot.tickets import desk, folding
from bot.tickets.models import Ticket

log = logging.getLogger(__name__)

# What is worth starting a ticket's thread for when it has none: someone has to read or act on these. A claim, a
# resolution or a score on a ticket nobody opened in Slack stays on its timeline (`engagebot tickets show`), so a
# flood resolved from the command line does not become a flood of threads. Staff actions start it at once (people,
# not a flood); the customer writing again counts against the place's fold bucket like a new ticket, and in a flood
# goes into the next summary instead (folding.foldable).
STARTS_THREAD = frozenset({"opened", "customer_message", "staff_reply", "note", "reassigned", "reopened",
                           "sla_reminder", "sla_breach", "shown"})  # fmt: skip


class StaffNotices:
    """The dispatcher's handler for the `staff_notice` and `staff_digest` outbox kinds."""

    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    async def deliver(self, item_id: int, payload: dict[str, Any], staff_desk: StaffDesk | None) -> bool:
        """Post one notice; False (try again shortly) while an earlier notice about the same ticket is pending."""
        async with self.db.sessions() as session:
            # Notices about one ticket arrive in order: a retried "opened" is never overtaken.
            if await outbox.earlier_pending(session, item_id, f"staff:{payload['ticket_id']}:"):
                return False
            notice = await desk.build_notice(session, self.settings, payload)
        if notice is None:
            return True
        threaded = bool(notice.ticket.get("desk_thread"))
        if notice.kind == "opened" and threaded:
            return True  # already posted (a retry after a crash must not post it twice)
        if staff_desk is None:
            log.info("ticket %s: %s (no staff desk configured; see `engagebot tickets list`)",
                     notice.ticket["ref"], notice.kind)  # fmt: skip
            return True
        if not threaded and notice.kind not in STARTS_THREAD:
            log.info("ticket %s: %s is on its timeline only (it has no thread in the staff desk)",
                     notice.ticket["ref"], notice.kind)  # fmt: skip
            return True
        fold = self.settings.slack.fold
        async with self.db.transaction() as session:
            admitted = await folding.admit(session, fold, notice, item_id, self.clock.now())
        if admitted == "folded":
            return True
        if not threaded and notice.kind != "opened":
            # This notice starts the thread: what the customer wrote while the ticket was only summarised comes first.
            async with self.db.sessions() as session:
                notice = replace(notice, earlier=await folding.unposted_messages(session, int(notice.ticket["id"])))
        try:
            where = await staff_desk.notify(notice)
        except DeliveryError:
            if admitted == "counted":
                async with self.db.transaction() as session:
                    await folding.refund(session, fold, notice, self.clock.now())
            raise
        if where and not threaded:
            async with self.db.transaction() as session:
                ticket = await session.get(Ticket, notice.ticket["id"])
                if ticket is not None:
                    ticket.desk_channel, ticket.desk_thread = where.get("channel"), where.get("thread")
        return True

    async def deliver_digest(self, key: str, payload: dict[str, Any], staff_desk: StaffDesk | None) -> bool:
        """Post a digest (its summary and one DM per assignee concerned)."""
        async with self.db.sessions() as session:
            digest = await folding.build_digest(session, self.settings, key, payload, self.clock.now())
        if staff_desk is None:
            log.info("%d notices summarised for %s (no staff desk configured; see `engagebot tickets list`)",
                     sum(digest.counts.values()), digest.place)  # fmt: skip
            return True
        await staff_desk.digest(digest)
        return True
