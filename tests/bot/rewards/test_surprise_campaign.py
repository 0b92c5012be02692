"""A surprise for the top tier: a message campaign with `reward: POOL` gives each customer of its audience a code,
once; a customer who has the pool's code already is not messaged again, and an empty pool sends nothing (staff are
alerted) instead of an empty promise. Through the campaign planner, the delivery policy and the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.config import Settings
from bot.core import Core
from bot.customers import records as customers
from bot.customers.models import Customer
from bot.messages import ChannelRef, Reply
from bot.outbox.models import OutboxItem
from bot.outreach.campaigns import planning
from bot.outreach.models import DeliveryDecision
from bot.rewards.alerts import RewardKind
from tests.conftest import Chat, FixedClock, make_settings

CAMPAIGNS = {
    "surprise": {"kind": "thank_you", "audience": {"tiers": ["core"]}, "reward": "thanks",
                 "message": "{{ customer.first_name }}, a thank-you from us: {{ reward.code }}"},
}  # fmt: skip
TIERS = {"default": "standard", "rules": [{"tier": "core", "when": "customer.attributes.vip"}]}


@dataclass
class Inbox:
    name: str = "web"
    sent: dict[str, list[str]] = field(default_factory=dict)

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        self.sent.setdefault(ref.address, []).extend(r.text for r in replies)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    rewards = {"pools": {"thanks": {"title": "Thank-you voucher"}}}
    return make_settings(tmp_path, database_url, flows_dir, campaigns=CAMPAIGNS, rewards=rewards, tiers=TIERS)


async def a_customer(core: Core, address: str, tier: str) -> int:
    chat = Chat(core, address=address, name=address.title())
    await chat.say("hi")
    await chat.say("cancel")  # no onboarding question pending
    async with core.db.transaction() as session:
        customer = await customers.find_by_identity(session, ChannelRef("web", address))
        assert customer is not None
        await session.execute(update(Customer).where(Customer.id == customer.id).values(tier=tier))
        return customer.id


async def send(core: Core, occurrence: str) -> None:
    now = core.clock.now()
    await planning.plan(core.db, core.settings, "surprise", occurrence, due_at=now, now=now)
    core.clock.advance(seconds=5)  # type: ignore[attr-defined]
    await core.dispatcher.drain()


async def test_the_top_tier_gets_a_code_once_and_an_empty_pool_sends_nothing(core: Core) -> None:
    inbox = Inbox()
    core.add_channel(inbox)
    await core.rewards.import_codes("thanks", "code\nTHX-1\nTHX-2\n")
    for address, tier in (("ana", "core"), ("rui", "core"), ("eva", "standard")):
        await a_customer(core, address, tier)
    inbox.sent.clear()

    await send(core, "manual@first")
    got = {address: messages[-1] for address, messages in inbox.sent.items()}
    assert sorted(got) == ["ana", "rui"]  # the top tier only
    assert sorted(m.split(": ")[-1] for m in got.values()) == ["THX-1", "THX-2"]
    assert got["ana"].startswith("Ana, a thank-you from us: THX-")

    inbox.sent.clear()
    await a_customer(core, "joe", "core")  # a new top customer, and the pool is empty now
    inbox.sent.clear()
    await send(core, "manual@second")
    assert inbox.sent == {}  # ana and rui had theirs; joe gets no empty promise
    async with core.db.sessions() as session:
        reasons = list((await session.execute(select(DeliveryDecision.reason).where(
            DeliveryDecision.decision == "skipped"))).scalars())  # fmt: skip
        alerts = list((await session.execute(select(OutboxItem).where(
            OutboxItem.kind == RewardKind.STAFF_ALERT))).scalars())  # fmt: skip
    assert reasons == ["nothing to send"] * 3
    assert len(alerts) == 1 and "`thanks` is empty" in alerts[0].payload["text"]


async def test_the_preview_shows_a_placeholder_and_gives_nothing(core: Core) -> None:
    await a_customer(core, "ana", "core")
    preview = await core.campaigns.preview("surprise", 3)
    (sample,) = preview.samples
    assert sample.replies[0].text == "Ana, a thank-you from us: <a code of thanks>"
    assert await core.rewards.given() == []
