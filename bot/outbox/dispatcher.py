"""Claims due outbox rows and carries them out: sends itself, every other kind by the handler its feature
registered (bot/outbox/kinds.py).

Rows of different customers are worked on concurrently (`outreach.concurrency`); one customer's rows
run in order. Proactive rows pass the registered delivery policy first (bot/outbox/gate.py). Sends keep to a
rate shared by all instances (bot/outbox/ratelimit.py). Right before a send the worker makes sure
its lease still has at least half its length to run, renewing it (with the claim's attempt number as
a fencing token) when not: a worker whose lease ran out while it waited finds the row claimed by
another and leaves it, so a slow instance never doubles a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

from bot.messages import ChannelRef, reply_from_dict
from bot.outbox import rows
from bot.outbox.claims import Claimed, Outcome
from bot.outbox.delivery import Deliveries, earlier_unsent
from bot.outbox.finishing import Finisher, Worker
from bot.outbox.gate import ProactiveGate
from bot.outbox.grouping import ClearingGroups
from bot.outbox.kinds import Handler, KindTable, OutboxKind
from bot.outbox.ratelimit import SharedRateLimiter, wait_until
from bot.ports import Channel, Clock, DeliveryError, reads_transcript
from bot.storage.database import Database

log = logging.getLogger(__name__)
SEND_ORDER_RETRY = timedelta(seconds=1)
SETTLE_AHEAD = timedelta(milliseconds=15)


class DispatchSettings(Protocol):
    """What the dispatcher reads of its settings (the `outreach` section, bot.config.OutreachSettings)."""

    @property
    def batch_size(self) -> int: ...
    @property
    def lease_seconds(self) -> float: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def defer_minutes(self) -> float: ...


class Dispatcher:
    def __init__(
        self, db: Database, channels: Mapping[str, Channel], settings: DispatchSettings, clock: Clock,
        rate_limiter: SharedRateLimiter | None = None,
    ):  # fmt: skip
        self.db = db
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self.deliveries = Deliveries(db, settings.max_attempts, clock)
        # Its workers are the rows worked on at once, across overlapping batches, each with at most one row
        # carried out but not yet marked done: what a kill -9 can double (bot/outbox/finishing.py).
        self.finisher = Finisher(db, clock, settings.concurrency)
        self.rate_limiter = rate_limiter
        self.kinds = KindTable()
        # The delivery policy proactive rows pass (registered by the campaigns feature); None lets them all through.
        self.clearing: ProactiveGate | None = None
        self._lease = timedelta(seconds=settings.lease_seconds)

    def register(self, kind: str, handler: Handler) -> None:
        """Carry out rows of `kind` with `handler` (each feature registers its own kinds, bot/core.py)."""
        self.kinds.register(kind, handler)
        if handler.max_attempts is not None:
            self.deliveries.attempts_by_kind[kind] = handler.max_attempts

    async def tick(self) -> int:
        """Claim and process one batch; returns how many rows were handled."""
        claimed = await self._claim()
        try:
            await self._work_on(claimed, asyncio.Event())
        finally:
            await self.finisher.flush()
        return len(claimed)

    async def drain(self, max_rounds: int = 100) -> int:
        """Claim and process batches until nothing is due (the dispatch tick, tests, `engagebot outbox run`).

        The next batch is claimed as soon as every row of the current one has a worker, so its first sends
        book the slots right after the last ones of the batch before: a gap between batches would be send
        rate lost for good (the shared rate never bursts to catch up)."""
        total = 0
        batches: list[asyncio.Task[None]] = []
        try:
            for _ in range(max_rounds):
                claimed = await self._claim()
                if not claimed and not batches:
                    break
                if not claimed:
                    # What the running batches do may queue more (a started flow's replies): look again after.
                    await asyncio.gather(*batches)
                    batches.clear()
                    continue
                total += len(claimed)
                started = asyncio.Event()
                batches.append(asyncio.create_task(self._work_on(claimed, started)))
                await started.wait()
        finally:
            await asyncio.gather(*batches)
            await self.finisher.flush()
        return total

    async def _claim(self) -> list[Claimed]:
        # Not finisher.transaction(): marking rows (not SKIP LOCKED) after locking newly claimed ones could
        # deadlock with an opt-out, which locks the customer and then all their rows. Each claim statement stands
        # alone (it leases what it returns), so on PostgreSQL they commit on their own: no BEGIN, no COMMIT.
        async with self.db.statements() as session:
            return await rows.claim_due(
                session, self.clock.now(), limit=self.settings.batch_size, lease=self._lease,
                skip_locked=self.db.is_postgres, exclude_kinds=self.kinds.unavailable(),
            )  # fmt: skip

    async def _work_on(self, claimed: list[Claimed], started: asyncio.Event) -> None:
        """One customer's rows in order, different customers side by side; `started` is set once every
        customer's rows have a worker (or the batch ended)."""
        series: dict[object, list[Claimed]] = {}
        for item in claimed:
            key = ("customer", item.customer_id) if item.customer_id is not None else ("row", item.id)
            series.setdefault(key, []).append(item)
        waiting = len(series)
        firsts = [rows[0] for rows in series.values() if rows[0].proactive]
        groups = ClearingGroups(firsts, self.settings.concurrency, self._clear)

        async def work(rows: list[Claimed]) -> None:
            nonlocal waiting
            async with self.finisher.worker() as worker:
                waiting -= 1
                if not waiting:
                    started.set()
                for row in rows:
                    await self._process(row, groups, worker)

        try:
            await asyncio.gather(*(work(rows) for rows in series.values()))
        finally:
            started.set()

    async def _process(self, item: Claimed, groups: ClearingGroups | None = None, worker: Worker | None = None) -> None:
        """Carry out one row; `groups`: its batch's clearing groups (else a proactive row is cleared alone);
        `worker`: the one doing it (else the row is marked done before this returns)."""
        decision_id: int | None = None
        try:
            if item.proactive and self.clearing is not None:
                cleared = await (groups or ClearingGroups([], 1, self._clear)).outcome(item)
                if isinstance(cleared, Exception):
                    raise cleared
                if cleared is None:
                    return
                item, decision_id = cleared.item, cleared.decision_id
            done = await self._carry_out(item, worker)
        except _Abandoned:
            return
        except DeliveryError as exc:
            await self.deliveries.failed(item.id, exc)
            return
        except Exception as exc:
            log.exception("outbox item %s (%s) failed", item.id, item.kind)
            await self.deliveries.failed(item.id, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return
        if done:
            if worker is None:
                await self.finisher.finish(item.id)
            else:
                worker.done(item.id, can_double=not self._reads_transcript(item))
            return
        async with self.db.transaction() as session:
            now = self.clock.now()
            handler = self.kinds.get(item.kind)
            starts_a_flow = item.kind != OutboxKind.SEND and not (
                handler is not None and handler.waits_for_earlier_rows
            )
            if starts_a_flow:
                reason = "deferred: customer mid-conversation"
                delay = timedelta(minutes=self.settings.defer_minutes)
            else:
                reason, delay = "waiting for earlier rows", SEND_ORDER_RETRY
            if decision_id is not None and starts_a_flow and self.clearing is not None:
                # The policy let it through, but the engine found the customer busy: not a send after all.
                # (A campaign message that waits behind earlier replies is still a send: it stays counted.)
                await self.clearing.deferred(session, decision_id, reason, now + delay)
            await rows.retry_later(session, item.id, now + delay, reason, failed=False)

    async def _carry_out(self, item: Claimed, worker: Worker | None) -> bool:
        """Do what the row says; False when it must wait (customer busy, earlier rows unsent).

        The worker's previous row is marked done before this one is carried out: for a send, right before it
        goes (after its slot), when the other workers' rows have finished too and share the mark's transaction."""
        if item.kind == OutboxKind.SEND:
            return await self._send(item, worker)
        if worker is not None:
            await worker.settle()
        handler = self.kinds.get(item.kind)
        if handler is None or (handler.needs_customer and item.customer_id is None):
            raise DeliveryError(f"unknown outbox kind {item.kind!r}", permanent=True)
        return await handler.carry_out(item)

    def _reads_transcript(self, item: Claimed) -> bool:
        """A send to a channel whose customers read the transcript: sending it again would double nothing."""
        return item.kind == OutboxKind.SEND and reads_transcript(self.channels.get(item.payload.get("channel")))

    # ---- the delivery policy --------------------------------------------------------------------

    async def _clear(self, items: list[Claimed]) -> dict[int, Outcome]:
        """Apply the delivery policy to rows of different customers, in one transaction (bot/outbox/gate.py)."""
        assert self.clearing is not None
        async with self.finisher.transaction() as session:
            return await self.clearing.clear(session, items, self.clock.now())

    # ---- carrying out ---------------------------------------------------------------------------

    async def _send(self, item: Claimed, worker: Worker | None) -> bool:
        """Send one batch of replies; False (try again shortly) while earlier replies are undelivered."""
        payload = item.payload
        if item.customer_id is not None and not item.in_order:
            # Rows sent here whose marks still wait (the customer's previous one, say) must not count as unsent.
            await self.finisher.flush()
            async with self.db.sessions() as session:
                if await earlier_unsent(session, item.customer_id, item.id):
                    return False
        ref = ChannelRef(payload["channel"], payload["address"])
        channel = self.channels.get(ref.channel)
        if channel is None:
            # Not this process's channel (a CLI command draining, an adapter still starting): the
            # process that runs it sends the row; trying here must not use up its attempts.
            return False
        replies = [reply_from_dict(r) for r in payload.get("replies", [])]
        slot = await self.rate_limiter.book(ref.channel, len(replies)) if self.rate_limiter is not None else None
        if slot is not None and worker is not None:
            # The worker's previous row is marked a little before this slot: late enough that the rows the others
            # sent meanwhile share the transaction, early enough that the write never makes this send late (a
            # late send is rate lost for good: the next slots do not move up).
            await wait_until(slot - SETTLE_AHEAD)
            await worker.settle()
        if slot is not None:
            await wait_until(slot)
        now = self.clock.now()
        if now + self._lease / 2 > item.leased_until:
            # The wait may have outlasted the lease: send only if the row is still ours, and keep it long enough.
            async with self.db.transaction() as session:
                if not await rows.renew(session, item.id, item.attempts, now + self._lease):
                    log.info("outbox item %s was claimed by another worker while waiting; left to it", item.id)
                    raise _Abandoned
        if worker is not None:
            await worker.settle()
        await channel.send(ref, replies)
        return True


class _Abandoned(Exception):
    """Our lease on a row ran out and another worker owns it now: do nothing more with it."""
