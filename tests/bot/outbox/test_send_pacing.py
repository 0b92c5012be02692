"""Pacing sends: slots handed out from a reserved block, and the lease checked before a send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot import outbox
from bot.core import Core
from bot.outbox.models import LEASED, OutboxItem
from bot.outbox.ratelimit import _Block
from tests.bot.outbox.test_dispatcher import LEASE, ScriptedChannel, a_customer, enqueue_send, the_row
from tests.conftest import FixedClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_reserved_block_hands_out_evenly_spaced_slots_until_it_is_used_up() -> None:
    block = _Block(START, START + timedelta(seconds=0.1))
    slots = [block.take(1, 40.0, START) for _ in range(4)]
    assert slots == [START + timedelta(seconds=0.025 * n) for n in range(4)]
    assert block.take(1, 40.0, START) is None  # the next send needs a new reservation


def test_slots_of_a_block_already_past_are_skipped_but_the_rest_stays_ours() -> None:
    block = _Block(START, START + timedelta(seconds=0.1))
    later = START + timedelta(seconds=0.06)
    assert block.take(1, 40.0, later) == later
    assert block.take(2, 40.0, later) is None  # two sends do not fit in what is left


async def test_a_send_whose_lease_ran_low_and_was_taken_over_is_left_to_the_new_owner(
    core: Core, clock: FixedClock
) -> None:
    channel = ScriptedChannel()
    core.add_channel(channel)
    customer_id = await a_customer(core)
    await enqueue_send(core, customer_id, "hello")
    async with core.db.transaction() as session:
        (mine,) = await outbox.claim_due(session, clock.now(), limit=1, lease=LEASE, skip_locked=False)
    # This worker stalled past half its lease; meanwhile the lease ran out and another worker claimed the row.
    clock.advance(seconds=LEASE.total_seconds() * 0.6)
    async with core.db.transaction() as session:
        await session.execute(update(OutboxItem).where(OutboxItem.id == mine.id).values(attempts=mine.attempts + 1))

    await core.dispatcher._process(mine)
    assert channel.sent == []
    row = await the_row(core)
    assert (row.status, row.attempts) == (LEASED, mine.attempts + 1)  # untouched: the new owner's
