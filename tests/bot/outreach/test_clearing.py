"""Clearing proactive rows in groups and marking sent rows done in shared transactions, as customers and
operators notice it: everyone gets a campaign once, a customer's later rows are judged after the earlier
ones went out, and no more rows than workers are ever sent but not yet marked (the kill -9 bound)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import outbox
from bot.config import Settings
from bot.core import Core
from bot.customers import privacy
from bot.customers import records as customers
from bot.customers.models import Customer
from bot.messages import ChannelRef, Reply
from bot.outbox.models import DONE, OutboxItem
from bot.outreach.campaigns.kinds import CampaignKind
from bot.outreach.models import DeliveryDecision
from tests.bot.outreach.test_policy import customer
from tests.conftest import FixedClock, make_settings

WORKERS = 3
CAMPAIGNS = ("thanks", "tips")


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(
        tmp_path, database_url, flows_dir,
        outreach={"frequency_cap": {"max_messages": 1, "window_days": 7}, "concurrency": WORKERS},
        business={"timezone": "UTC"},
        campaigns={"thanks": {"kind": "thank_you", "message": "Thank you, {{ customer.first_name }}!"},
                   "tips": {"kind": "news", "message": "A tip for you"}},
    )  # fmt: skip


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


@dataclass
class CountingChannel:
    """The web chat; before each send, counts the rows already sent but not yet marked done."""

    core: Core
    name: str = "web"
    sent: list[tuple[str, str]] = field(default_factory=list)
    most_unmarked: int = 0

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        addresses = {address for address, _ in self.sent}
        async with self.core.db.sessions() as session:
            ids = [await customers.find_by_identity(session, ChannelRef("web", a)) for a in addresses]
            query = select(func.count()).where(
                OutboxItem.customer_id.in_([c.id for c in ids if c is not None]),
                OutboxItem.dedupe_key.in_([f"{c}:{i.id}" for c in CAMPAIGNS for i in ids if i is not None]),
                OutboxItem.status != DONE,
            )  # fmt: skip
            self.most_unmarked = max(self.most_unmarked, (await session.execute(query)).scalar_one())
        self.sent += [(ref.address, reply.text) for reply in replies]


async def propose(core: Core, customer_id: int, campaign: str) -> None:
    async with core.db.transaction() as session:
        await outbox.enqueue(
            session, kind=CampaignKind.CAMPAIGN, dedupe_key=f"{campaign}:{customer_id}", due_at=core.clock.now(),
            customer_id=customer_id, payload={"campaign": campaign}, proactive=True,
        )  # fmt: skip


async def thanked(core: Core, clock: FixedClock, names: list[str]) -> tuple[CountingChannel, list[int]]:
    """A channel that counts what it sends, and customers an hour old, each with the "thanks" campaign's row due."""
    channel = CountingChannel(core)
    core.add_channel(channel)
    ids = [await customer(core, clock, name) for name in names]
    clock.advance(hours=1)
    for customer_id in ids:
        await propose(core, customer_id, "thanks")
    return channel, ids


def group_sizes(core: Core) -> list[int]:
    """Records how many rows each clearing transaction judged."""
    sizes: list[int] = []
    clear = core.dispatcher.clearing.clear

    async def counted(session: object, items: Sequence[object], now: datetime) -> object:
        sizes.append(len(items))
        return await clear(session, items, now)  # type: ignore[arg-type]

    core.dispatcher.clearing.clear = counted  # type: ignore[method-assign]
    return sizes


async def test_a_campaign_is_judged_a_workers_worth_of_customers_at_a_time_and_reaches_each_once(
    core: Core, clock: FixedClock
) -> None:
    channel, _ = await thanked(core, clock, [f"c{n}" for n in range(7)])
    sizes = group_sizes(core)

    await core.dispatcher.drain()
    assert sorted(address for address, _ in channel.sent) == [f"c{n}" for n in range(7)]
    assert sizes == [WORKERS, WORKERS, 1]
    # The kill -9 bound: a worker marks its last row before it sends the next one.
    assert channel.most_unmarked <= WORKERS
    async with core.db.sessions() as session:
        statuses = await session.execute(select(OutboxItem.status).where(OutboxItem.dedupe_key.startswith("thanks:")))
        assert list(statuses.scalars()) == [DONE] * 7  # drain returns with every sent row marked
        sent = select(func.count()).where(DeliveryDecision.decision == "sent")
        assert (await session.execute(sent)).scalar_one() == 7


async def test_a_customers_second_message_in_a_batch_is_judged_after_the_first_went_out(
    core: Core, clock: FixedClock
) -> None:
    channel, (ana, _bo) = await thanked(core, clock, ["ana", "bo"])
    await propose(core, ana, "tips")  # same batch; the cap (1 in 7 days) must count ana's first message

    await core.dispatcher.drain()
    assert sorted(address for address, _ in channel.sent) == ["ana", "bo"]
    assert all(text.startswith("Thank you") for _, text in channel.sent)
    async with core.db.sessions() as session:
        query = select(DeliveryDecision.decision, DeliveryDecision.reason).where(DeliveryDecision.customer_id == ana)
        decisions = [tuple(row) for row in await session.execute(query.order_by(DeliveryDecision.id))]
    assert decisions == [("sent", "allowed"), ("held", "frequency cap (1 in 7 days)")]


async def test_a_row_left_behind_a_customer_erased_meanwhile_is_skipped_and_its_batch_goes_out(
    core: Core, clock: FixedClock
) -> None:
    """Planning holds no lock on the customers it writes rows for, and the outbox has no foreign key to them
    (migration 0019): a customer erased as their campaign row is planned leaves that row behind. It must not message
    anyone, nor stop the customers judged with it."""
    channel, (ana, bo) = await thanked(core, clock, ["ana", "bo"])
    async with core.db.transaction() as session:  # what erasure deletes, but for the row planned meanwhile
        for table in reversed(privacy.customer_tables()):
            if table.name != OutboxItem.__tablename__:
                await session.execute(table.delete().where(table.c.customer_id == bo))
        await session.execute(Customer.__table__.delete().where(Customer.id == bo))

    await core.dispatcher.drain()
    assert [address for address, _ in channel.sent] == ["ana"]
    async with core.db.sessions() as session:
        rows = dict((await session.execute(select(OutboxItem.customer_id, OutboxItem.status))).all())
        decisions = [tuple(r) for r in await session.execute(
            select(DeliveryDecision.customer_id, DeliveryDecision.decision, DeliveryDecision.reason)
            .order_by(DeliveryDecision.id)
        )]  # fmt: skip
    assert rows[ana] == DONE and rows[bo] != "pending"
    assert sorted(decisions, key=str) == sorted(
        [(ana, "sent", "allowed"), (None, "skipped", "customer no longer exists")], key=str
    )
