"""The outbox dispatcher: retries with backoff, permanent failures, expired leases, dedupe, SKIP LOCKED."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import Settings
from bot.core import Core
from bot.customers.models import Customer
from bot.messages import ChannelRef, Reply
from bot.outbox.dispatcher import SEND_ORDER_RETRY
from bot.outbox.models import DONE, FAILED, LEASED, PENDING, OutboxItem
from bot.ports import DeliveryError
from tests.conftest import Chat, FixedClock, make_settings

MAX_ATTEMPTS = 3
LEASE = timedelta(seconds=120)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, outreach={"max_attempts": MAX_ATTEMPTS})


@dataclass
class ScriptedChannel:
    """The web Channel port: raises the scripted errors in turn, then delivers."""

    errors: list[Exception] = field(default_factory=list)
    name: str = "web"
    sent: list[str] = field(default_factory=list)

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent += [reply.text for reply in replies]


async def a_customer(core: Core) -> int:
    await Chat(core).say("hi")
    async with core.db.transaction() as session:
        return (await session.execute(select(Customer.id))).scalar_one()


async def enqueue_send(core: Core, customer_id: int, text: str, key: str | None = None) -> bool:
    async with core.db.transaction() as session:
        return await outbox.enqueue_send(
            session, customer_id=customer_id, ref=ChannelRef("web", "customer-1"), replies=[Reply(text)],
            dedupe_key=key or f"send:test:{text}", due_at=core.clock.now(),
        )  # fmt: skip


async def send_rows(core: Core) -> list[OutboxItem]:
    async with core.db.transaction() as session:
        query = select(OutboxItem).where(OutboxItem.kind == outbox.SEND).order_by(OutboxItem.id)
        return list((await session.execute(query)).scalars())


async def the_row(core: Core) -> OutboxItem:
    (row,) = await send_rows(core)
    return row


async def unreachable(core: Core, customer_id: int) -> bool:
    async with core.db.transaction() as session:
        return (await session.get(Customer, customer_id)).unreachable  # type: ignore[union-attr]


# ---- retries ------------------------------------------------------------------------------


async def test_a_send_that_asks_to_retry_after_is_tried_again_when_the_channel_says(
    core: Core, clock: FixedClock
) -> None:
    channel = ScriptedChannel([DeliveryError("rate limited", retry_after=30)])
    core.add_channel(channel)
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "Your tip of the week")
    start = clock.now()

    await core.dispatcher.drain()
    row = await the_row(core)
    assert (row.status, row.due_at, row.attempts, row.last_error) == (
        PENDING,
        start + timedelta(seconds=30),
        1,
        "rate limited",
    )
    clock.advance(seconds=29)
    assert await core.dispatcher.drain() == 0

    clock.advance(seconds=1)
    await core.dispatcher.drain()
    assert channel.sent == ["Your tip of the week"]
    assert (await the_row(core)).status == DONE
    assert await unreachable(core, customer_id) is False


@pytest.mark.parametrize(
    "error",
    [DeliveryError("timeout"), RuntimeError("connection reset")],
    ids=["delivery-error", "unexpected-exception"],
)
async def test_a_failing_send_is_retried_later_with_growing_backoff(
    core: Core, clock: FixedClock, error: Exception
) -> None:
    channel = ScriptedChannel([error, error])
    core.add_channel(channel)
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "Hello again")

    due_times = []
    for _ in range(2):
        await core.dispatcher.drain()
        row = await the_row(core)
        assert row.status == PENDING and channel.sent == []
        due_times.append(row.due_at - clock.now())
        clock.current = row.due_at
    assert due_times == [timedelta(seconds=5), timedelta(seconds=10)]  # outbox.backoff: 5 s, 10 s, 20 s...

    await core.dispatcher.drain()
    assert channel.sent == ["Hello again"]
    assert ((await the_row(core)).status, (await the_row(core)).attempts) == (DONE, 3)


async def test_a_blocked_bot_marks_the_customer_unreachable_and_the_row_failed(core: Core) -> None:
    channel = ScriptedChannel([DeliveryError("bot was blocked by the user", unreachable=True)])
    core.add_channel(channel)
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "Check-in")

    await core.dispatcher.drain()
    row = await the_row(core)
    assert (row.status, row.attempts, row.last_error) == (FAILED, 1, "bot was blocked by the user")
    assert row.finished_at is not None
    assert await unreachable(core, customer_id) is True


async def test_a_refused_message_fails_the_row_but_the_customer_stays_reachable(core: Core) -> None:
    channel = ScriptedChannel([DeliveryError("Bad Request: message text is empty", permanent=True)])
    core.add_channel(channel)
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "Check-in")

    await core.dispatcher.drain()
    assert ((await the_row(core)).status, (await the_row(core)).attempts) == (FAILED, 1)
    assert await unreachable(core, customer_id) is False


async def test_after_max_attempts_the_row_fails_but_the_customer_stays_reachable(core: Core, clock: FixedClock) -> None:
    channel = ScriptedChannel([DeliveryError("timeout") for _ in range(MAX_ATTEMPTS)])
    core.add_channel(channel)
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "Check-in")

    for _ in range(MAX_ATTEMPTS):
        clock.advance(hours=1)
        await core.dispatcher.drain()
    row = await the_row(core)
    assert (row.status, row.attempts) == (FAILED, MAX_ATTEMPTS)
    assert await unreachable(core, customer_id) is False
    clock.advance(days=1)
    assert await core.dispatcher.drain() == 0


async def test_a_send_to_a_channel_this_process_does_not_run_waits_without_using_attempts(
    core: Core, clock: FixedClock
) -> None:
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "Hello")
    for _ in range(3):
        await core.dispatcher.drain()
        clock.advance(seconds=5)
    row = await the_row(core)
    assert (row.status, row.attempts) == (PENDING, 0)

    channel = ScriptedChannel()
    core.add_channel(channel)
    clock.current = row.due_at
    await core.dispatcher.drain()
    assert channel.sent == ["Hello"]


# ---- leases and dedupe ----------------------------------------------------------------------


async def test_a_row_leased_by_a_dead_worker_is_claimed_again_when_the_lease_runs_out(
    core: Core, clock: FixedClock
) -> None:
    channel = ScriptedChannel()
    core.add_channel(channel)
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "Hello")
    async with core.db.transaction() as session:  # a worker claims the row, then dies
        (claimed,) = await outbox.claim_due(session, clock.now(), limit=10, lease=LEASE, skip_locked=False)
    assert (claimed.attempts, claimed.leased_until) == (1, clock.now() + LEASE)
    row = await the_row(core)
    assert (row.status, row.lease_until) == (LEASED, clock.now() + LEASE)

    clock.advance(seconds=119)
    assert await core.dispatcher.drain() == 0  # still leased
    assert channel.sent == []

    clock.advance(seconds=2)
    assert await core.dispatcher.drain() == 1
    assert channel.sent == ["Hello"]
    row = await the_row(core)
    assert (row.status, row.attempts, row.lease_until) == (DONE, 2, None)


async def test_the_dedupe_key_prevents_a_duplicate_enqueue(core: Core) -> None:
    channel = ScriptedChannel()
    core.add_channel(channel)
    customer_id = await a_customer(core)
    assert await enqueue_send(core, customer_id, "first", key="send:same") is True
    assert await enqueue_send(core, customer_id, "second", key="send:same") is False
    assert [row.payload["replies"][0]["text"] for row in await send_rows(core)] == ["first"]

    await core.dispatcher.drain()
    assert await enqueue_send(core, customer_id, "third", key="send:same") is False  # also once it is done
    await core.dispatcher.drain()
    assert channel.sent == ["first"]


async def test_two_dispatchers_at_once_deliver_every_row_exactly_once(core: Core, clock: FixedClock) -> None:
    channel = ScriptedChannel()
    core.add_channel(channel)
    customer_id = await a_customer(core)
    texts = [f"message {n}" for n in range(12)]
    for text in texts:
        await enqueue_send(core, customer_id, text)

    # Under SKIP LOCKED a dispatcher may claim a later row while another still holds an earlier one: it puts
    # it back for SEND_ORDER_RETRY rather than send out of order, so the clock moves on between rounds.
    for _ in range(len(texts) + 1):
        await asyncio.gather(core.dispatcher.drain(), core.dispatcher.drain(), core.dispatcher.drain())
        if {row.status for row in await send_rows(core)} == {DONE}:
            break
        clock.advance(seconds=SEND_ORDER_RETRY.total_seconds())
    assert channel.sent == texts  # each once, and in order
    assert {row.status for row in await send_rows(core)} == {DONE}


# SKIP LOCKED is PostgreSQL's (SQLite serialises writers instead): this one runs on PostgreSQL only.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_concurrent_claims_with_skip_locked_never_get_the_same_rows(core: Core, clock: FixedClock) -> None:
    customer_id = await a_customer(core)
    for n in range(6):
        await enqueue_send(core, customer_id, f"message {n}")

    async def claim(session: AsyncSession) -> list[int]:
        items = await outbox.claim_due(session, clock.now(), limit=4, lease=LEASE, skip_locked=True)
        return [item.id for item in items]

    # Two open transactions at once: the second must skip the rows the first holds, not wait for them.
    async with core.db.transaction() as first:
        first_ids = await claim(first)
        async with core.db.transaction() as second:
            second_ids = await asyncio.wait_for(claim(second), timeout=10)
    assert len(first_ids) == 4 and len(second_ids) == 2
    assert not set(first_ids) & set(second_ids)
    assert {row.status for row in await send_rows(core)} == {LEASED}


# ---- marking rows done ----------------------------------------------------------------------


async def claimed_row(core: Core, text: str) -> int:
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, text)
    async with core.db.transaction() as session:
        (claimed,) = await outbox.claim_due(session, core.clock.now(), limit=1, lease=LEASE, skip_locked=False)
    return claimed.id


async def status_of(core: Core, item_id: int) -> str:
    async with core.db.transaction() as session:
        return (await session.get(OutboxItem, item_id)).status  # type: ignore[union-attr]


async def test_a_worker_goes_on_only_once_its_last_send_is_marked_done_unless_sending_it_again_doubles_nothing(
    core: Core,
) -> None:
    finisher = core.dispatcher.finisher
    sent = await claimed_row(core, "a reply on a platform")
    async with finisher.worker() as worker:
        worker.done(sent)
        await worker.settle()  # what a kill -9 could double is this one row, until it is marked
        assert await status_of(core, sent) == DONE

    bookkeeping = await claimed_row(core, "a reply the web chat page reads from the transcript")
    async with finisher.worker() as worker:
        worker.done(bookkeeping, can_double=False)
        await worker.settle()  # nothing to wait for: the mark goes with the next write
        assert await status_of(core, bookkeeping) == LEASED
    await finisher.flush()
    assert await status_of(core, bookkeeping) == DONE
