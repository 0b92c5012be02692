"""Delivery bookkeeping for push channels: every reply batch is an outbox row until it is sent.

The engine writes the row in the same transaction as the conversation state, leased to the adapter
that sends at once. If that adapter dies or the platform fails, the lease runs out or the failure is
recorded, and the dispatcher sends what is left: nothing is lost, and at most the batch that was in
flight at a crash can arrive twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, exists, or_, select, text

from bot.config import Settings
from bot.customers.models import Customer
from bot.messages import Reply
from bot.outreach import outbox
from bot.outreach.models import LEASED, PENDING, OutboxItem
from bot.ports import Clock, DeliveryError
from bot.storage.database import Database

log = logging.getLogger(__name__)

# How long the adapter that received a message has to send its replies before the dispatcher may.
INLINE_LEASE = timedelta(seconds=60)
STAFF_NOTICE_ATTEMPTS = 60


@dataclass(frozen=True)
class Delivery:
    replies: tuple[Reply, ...]
    outbox_id: int | None = None
    # Earlier replies to this customer are still queued: send nothing now, the dispatcher keeps order.
    held: bool = False
    duplicate: bool = False


# Built once: it runs for every reply, and building it (and expanding an IN list) cost more than running it.
_EARLIER_UNSENT = select(
    exists().where(
        OutboxItem.customer_id == bindparam("customer_id"),
        OutboxItem.kind == outbox.SEND,
        OutboxItem.id < bindparam("before_id"),
        or_(OutboxItem.status == PENDING, OutboxItem.status == LEASED),
    )
)


async def earlier_unsent(session: object, customer_id: int, before_id: int) -> bool:
    params = {"customer_id": customer_id, "before_id": before_id}
    return bool((await session.execute(_EARLIER_UNSENT, params)).scalar())  # type: ignore[attr-defined]


_OUTBOX = OutboxItem.__table__
_SEND_COLUMNS = ("kind", "customer_id", "dedupe_key", "payload", "proactive", "status", "due_at", "attempts",
                 "lease_until", "created_at")  # fmt: skip
# The row, and whether an earlier send to the same customer is still unsent, in one statement (one round trip
# fewer per reply on PostgreSQL); it runs under the customer's lock, so it sees every earlier row. Written out:
# SQLAlchemy drops the table names from a RETURNING subquery on SQLite, which makes its columns ambiguous.
_INSERT_SEND = text(
    f"INSERT INTO outbox ({', '.join(_SEND_COLUMNS)}) VALUES ({', '.join(':' + c for c in _SEND_COLUMNS)}) "
    "RETURNING outbox.id, EXISTS (SELECT 1 FROM outbox AS earlier WHERE earlier.customer_id = outbox.customer_id "
    "AND earlier.kind = :send_kind AND earlier.id < outbox.id AND earlier.status IN (:pending, :leased))"
).bindparams(*(bindparam(c, type_=_OUTBOX.c[c].type) for c in _SEND_COLUMNS))


async def insert_send(session: object, row: dict[str, Any]) -> tuple[int, bool]:
    """Insert a send row; its id, and whether earlier sends to its customer are unsent (it must wait for them)."""
    params = {**row, "send_kind": outbox.SEND, "pending": PENDING, "leased": LEASED}
    item_id, held = (await session.execute(_INSERT_SEND, params)).one()  # type: ignore[attr-defined]
    return item_id, bool(held)


class Deliveries:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock
        self._unmarked: dict[int, asyncio.Future[None]] = {}  # sent, not yet marked done

    def _max_attempts(self, kind: str) -> int:
        # Staff must hear about every ticket: their notices outlast a long Slack outage (backoff caps at
        # an hour, so this is about two days), while customer sends give up sooner.
        return STAFF_NOTICE_ATTEMPTS if kind == "staff_notice" else self.settings.outreach.max_attempts

    async def mark_sent(self, item_id: int | None) -> None:
        """Returns once the row is marked done (committed).

        Group commit: whoever gets the transaction first (on SQLite, in the order they asked for the single
        writer, as a lone update would) marks every row waiting then; the others find theirs done. On SQLite
        one transaction per sent reply queued behind every inbound message."""
        if item_id is None:
            return
        done = self._unmarked.setdefault(item_id, asyncio.get_running_loop().create_future())
        batch: dict[int, asyncio.Future[None]] = {}
        try:
            async with self.db.transaction() as session:
                batch, self._unmarked = self._unmarked, {}
                if batch:
                    await outbox.finish_many(session, list(batch), self.clock.now())
        except BaseException as exc:
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc) if isinstance(exc, Exception) else future.cancel()
            raise
        for future in batch.values():
            if not future.done():
                future.set_result(None)
        await done  # marked in another caller's transaction: wait for it to commit

    async def failed(self, item_id: int, exc: DeliveryError) -> None:
        """Keep only the unsent replies, then retry later or give up (and mark the customer unreachable)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None:
                return
            if exc.sent and item.kind == outbox.SEND:
                payload = dict(item.payload)
                payload["replies"] = list(payload.get("replies", []))[exc.sent :]
                item.payload = payload
            if exc.permanent or item.attempts >= self._max_attempts(item.kind):
                log.warning("outbox item %s given up after %d attempts: %s", item_id, item.attempts, exc)
                await outbox.give_up(session, item_id, now, str(exc))
                if exc.unreachable and item.customer_id is not None:
                    customer = await session.get(Customer, item.customer_id)
                    if customer is not None:
                        customer.unreachable = True
                        # Their check-ins, reminders and campaign messages would only be skipped one by one.
                        await outbox.cancel_proactive(session, customer.id, now, "customer unreachable")
                return
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else outbox.backoff(max(1, item.attempts))
            log.info("outbox item %s retried in %s: %s", item_id, delay, exc)
            await outbox.retry_later(session, item_id, now + delay, str(exc))
