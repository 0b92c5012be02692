"""Reward codes: imported from CSV or made from a template, handed out once per customer per pool (also under
concurrent claims from two instances on PostgreSQL), given by a flow step and as a ticket's compensation, marked
redeemed by the API event, and an empty pool alerts staff while the customer hears something sensible."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.customers.models import Customer
from bot.outbox.models import OutboxItem
from bot.rewards import claims
from bot.rewards.actions import RewardError
from bot.rewards.alerts import RewardKind
from bot.rewards.models import RewardCode
from bot.tickets import records
from bot.yamlsource import SourceError
from tests.conftest import Chat, FixedClock, make_settings

POOLS = {
    "sorry": {"title": "Apology voucher", "description": "10% off your next order"},
    "welcome": {"template": "WELCOME-{random:8}"},
    "tiny": {"alert_below": 2},
}
GIFT_FLOW = """\
flow: gift
title: A small gift
triggers:
  - command: /gift
steps:
  - say: "Thanks for being with us!"
  - action: give_reward
    pool: sorry
  - branch:
      - when: not reward.given
        goto: done
  - say: Enjoy it.
  - id: done
    end: true
"""


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    target.mkdir()
    (target / "gift.yaml").write_text(GIFT_FLOW, encoding="utf-8")
    return target


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    rewards = {"pools": POOLS, "alert_channel": "#perks", "goodwill_on_sla_breach": {"pool": "welcome"}}
    return make_settings(tmp_path, database_url, flows_dir, rewards=rewards, staff=[{"key": "maria", "name": "Maria"}])


@dataclass
class RecordingAlerts:
    posted: list[tuple[str, str]] = field(default_factory=list)

    async def post_alert(self, channel: str, text: str) -> None:
        self.posted.append((channel, text))


async def customers(core: Core, n: int) -> list[int]:
    async with core.db.transaction() as session:
        rows = [Customer(display_name=f"Customer {i}") for i in range(n)]
        session.add_all(rows)
        await session.flush()
        return [c.id for c in rows]


async def test_imported_codes_are_given_once_per_customer_and_an_empty_pool_alerts_staff(core: Core) -> None:
    alerts = RecordingAlerts()
    core.staff_alerts.desk = alerts
    done = await core.rewards.import_codes("sorry", "code,value\nSORRY-1,10%\nSORRY-2,10%\n\nSORRY-1,dup\n")
    assert (done.added, done.already_there, done.problems) == (2, 0, [])
    again = await core.rewards.import_codes("sorry", "SORRY-2\nSORRY-3\n")  # no header: the first column
    assert (again.added, again.already_there) == (1, 1)

    ana, rui, eva, joe = await customers(core, 4)
    first = await core.rewards.give("sorry", ana, "ticket:C-1", "maria")
    assert (first.code, first.already) == ("SORRY-1", False)
    assert (await core.rewards.give("sorry", ana, "flow:gift", "flow:gift")).code == "SORRY-1"  # never a second one
    assert (await core.rewards.give("sorry", rui, "ticket:C-2", "maria")).code == "SORRY-2"
    assert (await core.rewards.give("sorry", eva, "ticket:C-3", "maria")).code == "SORRY-3"
    empty = await core.rewards.give("sorry", joe, "ticket:C-4", "maria")
    assert (empty.code, empty.missing) == (None, "empty")
    assert "run out" in claims.customer_text(core.settings, empty)
    assert "10% off your next order" in claims.customer_text(core.settings, first)

    await core.dispatcher.drain()
    assert len(alerts.posted) == 1 and alerts.posted[0][0] == "#perks"
    assert (
        "Reward pool `sorry` is empty" in alerts.posted[0][1]
        and "engagebot rewards import sorry" in alerts.posted[0][1]
    )
    await core.rewards.give("sorry", joe, "ticket:C-5", "maria")  # empty again the same day: one alert, not a flood
    await core.dispatcher.drain()
    assert len(alerts.posted) == 1

    pools = {p.name: p for p in await core.rewards.pools()}
    assert (pools["sorry"].total, pools["sorry"].given, pools["sorry"].free) == (3, 3, 0)
    lines = await core.rewards.given("sorry")
    assert {(line.code, line.customer_id, line.reason) for line in lines} == {
        ("SORRY-1", ana, "ticket:C-1"),
        ("SORRY-2", rui, "ticket:C-2"),
        ("SORRY-3", eva, "ticket:C-3"),
    }


async def test_a_template_pool_makes_a_code_per_customer_and_refuses_imports(core: Core) -> None:
    ana, rui = await customers(core, 2)
    one = await core.rewards.give("welcome", ana, "flow:onboarding", "flow")
    two = await core.rewards.give("welcome", rui, "flow:onboarding", "flow")
    assert re.fullmatch(r"WELCOME-[A-HJ-NP-Z2-9]{8}", one.code or "") and one.code != two.code
    assert (await core.rewards.give("welcome", ana, "again", "flow")).code == one.code
    with pytest.raises(RewardError, match="makes its codes from a template"):
        await core.rewards.import_codes("welcome", "X-1\n")
    with pytest.raises(RewardError, match="no reward pool 'nope'"):
        await core.rewards.give("nope", ana, "x", "y")


async def test_a_pool_running_low_alerts_before_it_is_empty(core: Core) -> None:
    alerts = RecordingAlerts()
    core.staff_alerts.desk = alerts
    await core.rewards.import_codes("tiny", "T-1\nT-2\nT-3\n")
    ana, rui = await customers(core, 2)
    await core.rewards.give("tiny", ana, "x", "y")  # 2 left: not below 2
    await core.dispatcher.drain()
    assert alerts.posted == []
    await core.rewards.give("tiny", rui, "x", "y")  # 1 left
    await core.dispatcher.drain()
    assert [text for _, text in alerts.posted] == ["Reward pool `tiny` has 1 codes left (alert_below: 2)."]


async def test_the_reward_redeemed_event_marks_the_code_used(core: Core) -> None:
    await core.rewards.import_codes("sorry", "SORRY-9\n")
    (ana,) = await customers(core, 1)
    await core.rewards.give("sorry", ana, "x", "y")
    events = [{"event": "reward_redeemed", "data": {"code": "SORRY-9"}}, {"event": "purchased"},
              {"event": "reward_redeemed", "data": {"code": "NOT-GIVEN"}}]  # fmt: skip
    assert await core.rewards.redeemed_events(events) == 1
    (line,) = await core.rewards.given("sorry")
    assert line.redeemed_at == core.clock.now()


async def test_a_flow_step_gives_the_reward_and_says_it_once(core: Core, chat: Chat) -> None:
    await core.rewards.import_codes("sorry", "SORRY-1\n")
    said = await chat.say("/gift")
    # (after the first-contact welcome line)
    assert said.endswith("Thanks for being with us!\nHere is your reward: SORRY-1 (10% off your next order)\nEnjoy it.")
    assert "SORRY-1" in await chat.say("/gift")  # the same code again, never a second one
    other = Chat(core, address="customer-2", name="Rui")
    said = await other.say("/gift")
    assert "Thanks for being with us!\nWe meant to give you a reward, but we have just run out." in said
    assert "Enjoy it." not in said
    async with core.db.sessions() as session:
        rows = (await session.execute(select(RewardCode))).scalars().all()
        alerts = (await session.execute(select(OutboxItem).where(OutboxItem.kind == RewardKind.STAFF_ALERT))).scalars()
        assert [(r.code, r.reason) for r in rows] == [("SORRY-1", "flow:gift")]
        assert len(list(alerts)) == 1


# ---- two instances at once (PostgreSQL) ---------------------------------------------------------


@pytest.fixture
async def second(settings: Settings, clock: FixedClock, core: Core) -> AsyncIterator[Core]:
    other = Core(settings, clock=clock)
    try:
        yield other
    finally:
        await other.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_claims_from_two_instances_never_give_a_code_twice(core: Core, second: Core) -> None:
    await core.rewards.import_codes("sorry", "\n".join(f"SORRY-{i}" for i in range(10)))
    people = await customers(core, 15)
    # Every customer asks on both instances at once (a double press, two instances): 30 claims for 10 codes.
    claims_ = [inst.rewards.give("sorry", c, "race", "test") for c in people for inst in (core, second)]
    results = await asyncio.gather(*claims_)
    given = [r.code for r in results if r.code]
    by_customer: dict[int, set[str]] = {}
    for customer_id, result in zip([c for c in people for _ in (0, 1)], results, strict=True):
        if result.code:
            by_customer.setdefault(customer_id, set()).add(result.code)
    assert all(len(codes) == 1 for codes in by_customer.values())  # one code per customer, whichever asked
    assert len(by_customer) == 10 and len(set(given)) == 10  # each code to one customer
    async with core.db.sessions() as session:
        rows = (await session.execute(select(RewardCode))).scalars().all()
        assert len({r.customer_id for r in rows}) == 10 and all(r.customer_id for r in rows)


async def ticket_for(core: Core, customer_id: int, *, breached: bool) -> str:
    async with core.db.transaction() as session:
        ticket = await records.open_ticket(session, core.settings, customer_id=customer_id, now=core.clock.now(),
                                           kind="complaint", category="delivery", severity="normal",
                                           summary="late", description="late")  # fmt: skip
        ticket.sla_breached = breached
        return ticket.ref or ""


async def test_a_resolution_gives_the_chosen_reward_or_goodwill_after_a_breached_sla(core: Core) -> None:
    await core.rewards.import_codes("sorry", "SORRY-1\n")
    ana, rui, eva = await customers(core, 3)
    chosen = await core.tickets.resolve(await ticket_for(core, ana, breached=False), "maria", "Sent again.",
                                        "A free delivery", reward="sorry")  # fmt: skip
    assert chosen.ok and chosen.ticket is not None
    assert chosen.ticket.compensation == "A free delivery; code SORRY-1 (10% off your next order)"
    late = await core.tickets.resolve(await ticket_for(core, rui, breached=True), "maria", "Sent again.")
    assert late.ticket is not None and re.fullmatch(r"code WELCOME-\w{8}", late.ticket.compensation)
    (goodwill,) = await core.rewards.given("welcome")
    assert goodwill.reason == f"goodwill:{late.ticket.ref}"  # the ledger tells it from a chosen compensation
    assert (await core.rewards.given("sorry"))[0].reason == f"ticket:{chosen.ticket.ref}"
    on_time = await core.tickets.resolve(await ticket_for(core, eva, breached=False), "maria", "Sent again.")
    assert on_time.ticket is not None and on_time.ticket.compensation == ""
    refused = await core.tickets.resolve(await ticket_for(core, eva, breached=False), "maria", "x", reward="nope")
    assert not refused.ok and "no reward pool 'nope'" in refused.message


@pytest.mark.parametrize(
    ("rewards", "campaigns", "problem"),
    [
        ({"pools": {"thanks": {}}}, {"s": {"reward": "thank", "message": "{{ reward.code }}"}},
         'config.yaml:1: unknown reward pool "thank" (did you mean "thanks"?)'),
        ({"pools": {"w": {"template": "W-{random:3}"}}}, {}, "at least 6"),
        ({"pools": {}, "goodwill_on_sla_breach": {"pool": "sorry"}}, {}, "no pool 'sorry'"),
        ({"pools": {"Bad Name": {}}}, {}, "pool name 'Bad Name'"),
    ],
)  # fmt: skip
def test_reward_settings_are_checked_with_where_and_why(
    tmp_path: Path, rewards: dict[str, Any], campaigns: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SourceError) as refused:
        make_settings(tmp_path, "sqlite+aiosqlite://", tmp_path, rewards=rewards, campaigns=campaigns)
    assert problem in "\n".join(map(str, refused.value.problems))
