"""Carrying out staff notices from the outbox: one ticket's notices in order, folded into a digest in a flood
(bot/tickets/folding.py), and a ticket's thread started late, by the first notice that needs one, when its opening
was folded (or never reached the desk), showing first what the customer wrote meanwhile."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot import outbox
from bot.config import Settings
from bot.outbox import Claimed, Handler
from bot.ports import Clock, DeliveryError
from bot.storage.database import Database
from bot.tickets import desk, folding
from bot.tickets.kinds import TicketKind
from bot.tickets.models import Ticket
from bot.tickets.staffdesk import StaffDesk, StaffNoticeKind

log = logging.getLogger(__name__)
# Staff must hear about every ticket: their notices outlast a long Slack outage (backoff caps at an hour, so this
# is about two days), while customer sends give up sooner.
STAFF_NOTICE_ATTEMPTS = 60

# What is worth starting a ticket's thread for when it has none: someone has to read or act on these. A claim, a
# resolution or a score on a ticket nobody opened in Slack stays on its timeline (`engagebot tickets show`), so a
# flood resolved from the command line does not become a flood of threads. Staff actions start it at once (people,
# not a flood); the customer writing again counts against the place's fold bucket like a new ticket, and in a flood
# goes into the next summary instead (folding.foldable).
STARTS_THREAD = frozenset({
    StaffNoticeKind.OPENED, StaffNoticeKind.CUSTOMER_MESSAGE, StaffNoticeKind.STAFF_REPLY, StaffNoticeKind.NOTE,
    StaffNoticeKind.REASSIGNED, StaffNoticeKind.REOPENED, StaffNoticeKind.SLA_REMINDER, StaffNoticeKind.SLA_BREACH,
    StaffNoticeKind.SHOWN,
})  # fmt: skip


class StaffNotices:
    """The dispatcher's handler for the `staff_notice` and `staff_digest` outbox kinds."""

    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock
        self.staff_desk: StaffDesk | None = None

    def outbox_handlers(self) -> dict[str, Handler]:
        """The handlers of the tickets feature's outbox kinds, registered with the dispatcher (bot/core.py)."""
        return {
            TicketKind.STAFF_NOTICE: Handler(
                self._carry_out_notice,
                waits_for_earlier_rows=True,
                max_attempts=STAFF_NOTICE_ATTEMPTS,
                available=self._has_desk,
            ),
            TicketKind.STAFF_DIGEST: Handler(self._carry_out_digest, available=self._has_desk),
        }

    def _has_desk(self) -> bool:
        """Staff notices wait for a process that has the staff desk (Slack) when one is configured:
        a CLI command's drain must not mark them done unposted."""
        return self.staff_desk is not None or self.settings.secrets.slack_bot_token is None

    async def _carry_out_notice(self, item: Claimed) -> bool:
        return await self.deliver(item.id, item.payload, self.staff_desk)

    async def _carry_out_digest(self, item: Claimed) -> bool:
        return await self.deliver_digest(f"{TicketKind.STAFF_DIGEST}:{item.id}", item.payload, self.staff_desk)

    async def deliver(self, item_id: int, payload: dict[str, Any], staff_desk: StaffDesk | None) -> bool:
        """Post one notice; False (try again shortly) while an earlier notice about the same ticket is pending."""
        async with self.db.sessions() as session:
            # Notices about one ticket arrive in order: a retried "opened" is never overtaken.
            if await outbox.earlier_pending(session, item_id, f"staff:{payload['ticket_id']}:"):
                return False
            notice = await desk.build_notice(session, self.settings, payload)
        if notice is None:
            return True
        threaded = bool(notice.ticket.desk_thread)
        if notice.kind == StaffNoticeKind.OPENED and threaded:
            return True  # already posted (a retry after a crash must not post it twice)
        if staff_desk is None:
            log.info("ticket %s: %s (no staff desk configured; see `engagebot tickets list`)",
                     notice.ticket.ref, notice.kind)  # fmt: skip
            return True
        if not threaded and notice.kind not in STARTS_THREAD:
            log.info("ticket %s: %s is on its timeline only (it has no thread in the staff desk)",
                     notice.ticket.ref, notice.kind)  # fmt: skip
            return True
        fold = self.settings.slack.fold
        async with self.db.transaction() as session:
            admitted = await folding.admit(session, fold, notice, item_id, self.clock.now())
        if admitted == "folded":
            return True
        if not threaded and notice.kind != StaffNoticeKind.OPENED:
            # This notice starts the thread: what the customer wrote while the ticket was only summarised comes first.
            async with self.db.sessions() as session:
                notice = replace(notice, earlier=await folding.unposted_messages(session, notice.ticket.id))
        try:
            where = await staff_desk.notify(notice)
        except DeliveryError:
            if admitted == "counted":
                async with self.db.transaction() as session:
                    await folding.refund(session, fold, notice, self.clock.now())
            raise
        if where and not threaded:
            async with self.db.transaction() as session:
                ticket = await session.get(Ticket, notice.ticket.id)
                if ticket is not None:
                    ticket.desk_channel, ticket.desk_thread = where.channel, where.thread
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
