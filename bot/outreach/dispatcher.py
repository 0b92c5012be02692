"""Claims due outbox rows and carries them out: resume paused runs, start flows, send messages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from bot.config import Settings
from bot.conversations.engine import DEFER_PROACTIVE, ConversationEngine
from bot.customers.models import Customer
from bot.messages import ChannelRef, reply_from_dict
from bot.outreach import outbox
from bot.ports import Channel, Clock, DeliveryError
from bot.storage.database import Database

log = logging.getLogger(__name__)


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

    async def tick(self) -> int:
        """Claim and process one batch; returns how many rows were handled."""
        cfg = self.settings.outreach
        async with self.db.transaction() as session:
            items = await outbox.claim_due(
                session, self.clock.now(), limit=cfg.batch_size,
                lease=timedelta(seconds=cfg.lease_seconds), skip_locked=self.db.is_postgres,
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
            elif kind == outbox.START_FLOW and customer_id is not None:
                done = await self.engine.start_flow_for(customer_id, payload["flow_id"], payload.get("data"))
            elif kind == outbox.SEND:
                await self._send(payload)
                done = True
            else:
                raise DeliveryError(f"unknown outbox kind {kind!r}", permanent=True)
        except DeliveryError as exc:
            await self._failed(item_id, customer_id, attempts, exc)
            return
        except Exception as exc:
            log.exception("outbox item %s (%s) failed", item_id, kind)
            await self._failed(item_id, customer_id, attempts, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return
        async with self.db.transaction() as session:
            now = self.clock.now()
            if done:
                await outbox.finish(session, item_id, now)
            else:
                await outbox.retry_later(session, item_id, now + DEFER_PROACTIVE, "deferred: customer mid-conversation")

    async def _send(self, payload: dict) -> None:
        ref = ChannelRef(payload["channel"], payload["address"])
        channel = self.channels.get(ref.channel)
        if channel is None:
            raise DeliveryError(f"channel {ref.channel!r} is not running")
        await channel.send(ref, [reply_from_dict(r) for r in payload.get("replies", [])])

    async def _failed(self, item_id: int, customer_id: int | None, attempts: int, exc: DeliveryError) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            if exc.permanent or attempts >= self.settings.outreach.max_attempts:
                log.warning("outbox item %s given up after %d attempts: %s", item_id, attempts, exc)
                await outbox.give_up(session, item_id, now, str(exc))
                if exc.permanent and customer_id is not None:
                    customer = await session.get(Customer, customer_id)
                    if customer is not None:
                        customer.unreachable = True
                return
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else outbox.backoff(attempts)
            log.info("outbox item %s retried in %s: %s", item_id, delay, exc)
            await outbox.retry_later(session, item_id, now + delay, str(exc))
