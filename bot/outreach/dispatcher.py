"""Claims due outbox rows and carries them out: resume paused runs, start flows, send messages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from bot.config import Settings
from bot.conversations.engine import DEFER_PROACTIVE, ConversationEngine
from bot.messages import ChannelRef, reply_from_dict
from bot.outreach import outbox
from bot.outreach.delivery import Deliveries, earlier_unsent
from bot.ports import Channel, Clock, DeliveryError, StaffDesk
from bot.storage.database import Database
from bot.tickets import desk
from bot.tickets.lifecycle import EVENT
from bot.tickets.models import Ticket

log = logging.getLogger(__name__)
SEND_ORDER_RETRY = timedelta(seconds=1)


class Dispatcher:
    def __init__(
        self, db: Database, engine: ConversationEngine, channels: Mapping[str, Channel],
        settings: Settings, clock: Clock,
    ):  # fmt: skip
        self.db = db
        self.engine = engine
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self.deliveries = Deliveries(db, settings, clock)
        self.staff_desk: StaffDesk | None = None

    async def tick(self) -> int:
        """Claim and process one batch; returns how many rows were handled."""
        cfg = self.settings.outreach
        async with self.db.transaction() as session:
            items = await outbox.claim_due(
                session, self.clock.now(), limit=cfg.batch_size,
                lease=timedelta(seconds=cfg.lease_seconds), skip_locked=self.db.is_postgres,
                exclude_kinds=self._not_mine(),
            )  # fmt: skip
            claimed = [(i.id, i.kind, dict(i.payload), i.customer_id, i.attempts) for i in items]
        for item_id, kind, payload, customer_id, attempts in claimed:
            await self._process(item_id, kind, payload, customer_id, attempts)
        return len(claimed)

    async def drain(self, max_rounds: int = 100) -> int:
        """Tick until nothing is due (tests, `engagebot outbox run`)."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.tick()
            total += handled
            if not handled:
                break
        return total

    async def _process(self, item_id: int, kind: str, payload: dict, customer_id: int | None, attempts: int) -> None:
        try:
            if kind == outbox.RESUME_RUN:
                done = await self.engine.resume_run(int(payload["run_id"]))
            elif kind == outbox.REMIND_RUN:
                done = await self.engine.remind_run(payload)
            elif kind == outbox.START_FLOW and customer_id is not None:
                done = await self.engine.start_flow_for(customer_id, payload["flow_id"], payload.get("data"))
            elif kind == outbox.SEND:
                done = await self._send(item_id, customer_id, payload)
            elif kind == EVENT and customer_id is not None:
                # Events queued by the core are about the customer's own business: they may interrupt.
                await self.engine.fire_event(customer_id, payload["event"], payload.get("data"), interrupt=True)
                done = True
            elif kind == desk.STAFF_NOTICE:
                done = await self._notify_staff(item_id, payload)
            else:
                raise DeliveryError(f"unknown outbox kind {kind!r}", permanent=True)
        except DeliveryError as exc:
            await self.deliveries.failed(item_id, exc)
            return
        except Exception as exc:
            log.exception("outbox item %s (%s) failed", item_id, kind)
            await self.deliveries.failed(item_id, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return
        async with self.db.transaction() as session:
            now = self.clock.now()
            if done:
                await outbox.finish(session, item_id, now)
            else:
                proactive_start = kind in (outbox.RESUME_RUN, outbox.START_FLOW)
                reason = "deferred: customer mid-conversation" if proactive_start else "waiting for earlier rows"
                delay = DEFER_PROACTIVE if proactive_start else SEND_ORDER_RETRY
                await outbox.retry_later(session, item_id, now + delay, reason, failed=False)

    def _not_mine(self) -> tuple[str, ...]:
        """Staff notices wait for a process that has the staff desk (Slack) when one is configured:
        a CLI command's drain must not mark them done unposted."""
        if self.staff_desk is None and self.settings.secrets.slack_bot_token is not None:
            return (desk.STAFF_NOTICE,)
        return ()

    async def _notify_staff(self, item_id: int, payload: dict) -> bool:
        async with self.db.sessions() as session:
            # Notices about one ticket arrive in order: a retried "opened" is never overtaken.
            if await outbox.earlier_pending(session, item_id, f"staff:{payload['ticket_id']}:"):
                return False
            notice = await desk.build_notice(session, self.settings, payload)
        if notice is None:
            return True
        if notice.kind == "opened" and notice.ticket.get("desk_thread"):
            return True  # already posted (a retry after a crash must not post it twice)
        if self.staff_desk is None:
            log.info("ticket %s: %s (no staff desk configured; see `engagebot tickets list`)",
                     notice.ticket["ref"], notice.kind)  # fmt: skip
            return True
        where = await self.staff_desk.notify(notice)
        if notice.kind == "opened" and where:
            async with self.db.transaction() as session:
                ticket = await session.get(Ticket, notice.ticket["id"])
                if ticket is not None:
                    ticket.desk_channel, ticket.desk_thread = where.get("channel"), where.get("thread")
        return True

    async def _send(self, item_id: int, customer_id: int | None, payload: dict) -> bool:
        """Send one batch of replies; False (try again shortly) while earlier replies are undelivered."""
        if customer_id is not None:
            async with self.db.sessions() as session:
                if await earlier_unsent(session, customer_id, item_id):
                    return False
        ref = ChannelRef(payload["channel"], payload["address"])
        channel = self.channels.get(ref.channel)
        if channel is None:
            # Not this process's channel (a CLI command draining, an adapter still starting): the
            # process that runs it sends the row; trying here must not use up its attempts.
            return False
        await channel.send(ref, [reply_from_dict(r) for r in payload.get("replies", [])])
        return True
