"""Delivery bookkeeping for push channels: every reply batch is an outbox row until it is sent.

The engine writes the row in the same transaction as the conversation state, leased to the adapter
that sends at once. The adapter hands the send to `Deliveries.deliver`, which records the outcome: if
that adapter dies or the platform fails, the lease runs out or the failure is recorded, and the
dispatcher sends what is left: nothing is lost, and at most the batch that was in flight at a crash
can arrive twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.inflight import InFlight
from bot.messages import Reply
from bot.outbox import rows
from bot.outbox.models import LEASED, PENDING, OutboxItem
from bot.ports import Clock, DeliveryError
from bot.storage import plain
from bot.storage.database import Database, is_unavailable

log = logging.getLogger(__name__)

# How long the adapter that received a message has to send its replies before the dispatcher may.
INLINE_LEASE = timedelta(seconds=60)
# How soon a sent batch's mark is tried again while the database is away (doubling, up to the last).
MARK_RETRY_SECONDS = (0.25, 0.5, 1.0, 2.0)

# What follows when a channel refuses a customer for good (registered by the customers feature): the session of
# the row's failure, the customer's id, now.
OnUnreachable = Callable[[AsyncSession, int, datetime], Awaitable[None]]
# An adapter's send of one batch, in order; a failure is a DeliveryError saying how many replies went out.
Send = Callable[[Sequence[Reply]], Awaitable[None]]


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
        OutboxItem.kind == rows.SEND,
        OutboxItem.id < bindparam("before_id"),
        or_(OutboxItem.status == PENDING, OutboxItem.status == LEASED),
    )
)


async def earlier_unsent(session: object, customer_id: int, before_id: int) -> bool:
    params = {"customer_id": customer_id, "before_id": before_id}
    return bool((await session.execute(_EARLIER_UNSENT, params)).scalar())  # type: ignore[attr-defined]


_OUTBOX = OutboxItem.__table__
SEND_COLUMNS = ("kind", "customer_id", "dedupe_key", "payload", "proactive", "status", "due_at", "attempts",
                 "lease_until", "created_at")  # fmt: skip
# The row, and whether an earlier send to the same customer is still unsent, in one statement (one round trip
# fewer per reply on PostgreSQL); it runs under the customer's lock, so it sees every earlier row. Written out:
# SQLAlchemy drops the table names from a RETURNING subquery on SQLite, which makes its columns ambiguous.
INSERT_SEND_SQL = (
    f"INSERT INTO outbox ({', '.join(SEND_COLUMNS)}) VALUES ({', '.join(':' + c for c in SEND_COLUMNS)}) "
    f"RETURNING outbox.id, {rows.EARLIER_UNSENT_SQL}"
)
SEND_TYPES = tuple(bindparam(c, type_=_OUTBOX.c[c].type) for c in SEND_COLUMNS)
_INSERT_SEND = text(INSERT_SEND_SQL).bindparams(*SEND_TYPES)


async def insert_send(session: AsyncSession, row: dict[str, Any]) -> tuple[int, bool]:
    """Insert a send row; its id, and whether earlier sends to its customer are unsent (it must wait for them)."""
    ((item_id, held),) = await plain.execute(session, _INSERT_SEND, row)
    return item_id, bool(held)


class Deliveries:
    def __init__(self, db: Database, max_attempts: int, clock: Clock):
        self.db = db
        self.max_attempts = max_attempts
        self.clock = clock
        # Kinds that get more (or fewer) attempts than `max_attempts` (from their registered handlers).
        self.attempts_by_kind: dict[str, int] = {}
        self.on_unreachable: OnUnreachable | None = None
        self._unmarked: dict[int, asyncio.Future[None]] = {}  # sent, not yet marked done
        self._marking = asyncio.Lock()  # one marking statement at a time (see mark_sent)
        self.in_flight = InFlight()  # the engine's, in a Core: a send of replies is part of answering a message

    def _max_attempts(self, kind: str) -> int:
        return self.attempts_by_kind.get(kind, self.max_attempts)

    async def deliver(self, delivery: Delivery, send: Send) -> None:
        """Send the replies the engine leased to the caller, and record how it went: marked sent, or the failure
        (retried later by the dispatcher, or given up). Nothing to send, or replies held behind earlier ones
        still queued: nothing is sent now, the dispatcher keeps the order."""
        if delivery.outbox_id is None or delivery.held:
            return
        with self.in_flight.hold():
            try:
                await send(delivery.replies)
            except DeliveryError as exc:
                await self.failed(delivery.outbox_id, exc)
                return
        await self._mark_sent_once_reachable(delivery.outbox_id)

    async def _mark_sent_once_reachable(self, item_id: int) -> None:
        """Mark a sent batch done, trying again while the database is away (a restart, a failover) for as long as
        the row's lease lasts. Left unmarked, the row held the customer's next replies until its lease ran out (a
        minute of silence), and then the dispatcher sent the batch a second time."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + INLINE_LEASE.total_seconds()
        for attempt in itertools.count():
            try:
                await self.mark_sent(item_id)
                return
            except Exception as exc:
                wait = MARK_RETRY_SECONDS[min(attempt, len(MARK_RETRY_SECONDS) - 1)]
                if not is_unavailable(exc) or loop.time() + wait > give_up_at:
                    raise
                if attempt == 0:
                    log.warning("outbox item %s sent; marking it waits for the database (%s)", item_id,
                                type(exc).__name__)  # fmt: skip
                await asyncio.sleep(wait)

    async def mark_sent(self, item_id: int | None) -> None:
        """Returns once the row is marked done (committed).

        Group commit: one marking statement at a time; whoever runs it marks every row waiting then, and the rows
        sent meanwhile go with the next one. Without it every sent reply was a transaction of its own, queued
        behind every inbound message for SQLite's one writer, and three round trips and a commit on PostgreSQL."""
        if item_id is None:
            return
        done = self._unmarked.setdefault(item_id, asyncio.get_running_loop().create_future())
        async with self._marking:
            if not done.done():
                await self._mark_waiting()
        await done  # marked by another caller's statement: raises if that failed

    async def _mark_waiting(self) -> None:
        batch: dict[int, asyncio.Future[None]] = {}
        try:
            async with self.db.statements() as session:
                batch, self._unmarked = self._unmarked, {}
                if batch:
                    await rows.finish_many(session, list(batch), self.clock.now())
        except BaseException as exc:
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc) if isinstance(exc, Exception) else future.cancel()
            raise
        for future in batch.values():
            if not future.done():
                future.set_result(None)

    async def failed(self, item_id: int, exc: DeliveryError) -> None:
        """Keep only the unsent replies, then retry later or give up (and mark the customer unreachable)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None:
                return
            if exc.sent and item.kind == rows.SEND:
                payload = dict(item.payload)
                payload["replies"] = list(payload.get("replies", []))[exc.sent :]
                item.payload = payload
            if exc.permanent or item.attempts >= self._max_attempts(item.kind):
                log.warning("outbox item %s given up after %d attempts: %s", item_id, item.attempts, exc)
                await rows.give_up(session, item_id, now, str(exc))
                if exc.unreachable and item.customer_id is not None and self.on_unreachable is not None:
                    await self.on_unreachable(session, item.customer_id, now)
                return
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else rows.backoff(max(1, item.attempts))
            log.info("outbox item %s retried in %s: %s", item_id, delay, exc)
            await rows.retry_later(session, item_id, now + delay, str(exc))
