"""Campaigns: who is in the audience, planning an occurrence once (and resuming it), scheduled
occurrences per tier after downtime, what the message says, and a 100,000-customer plan on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot import outbox
from bot.core import Core
from bot.customers.models import ChannelIdentity, Customer
from bot.messages import Button, Reply
from bot.outbox.models import DONE, OutboxItem
from bot.outreach.campaigns import catalog
from bot.outreach.campaigns.audience import Target, breakdown
from bot.outreach.campaigns.catalog import CampaignError
from bot.outreach.campaigns.kinds import CampaignKind
from bot.outreach.campaigns.planning import occurrence_to_send, plan, plan_due
from bot.outreach.models import SENT, SKIPPED, CampaignRun, DeliveryDecision
from tests.conftest import FixedClock


async def add_customer(
    core: Core, name: str, *, tier: str = "standard", tags: tuple[str, ...] = (), identity: bool = True,
    subscribed: bool = True, unreachable: bool = False, attributes: dict[str, Any] | None = None,
    created_days_ago: float = 400, active_days_ago: float | None = None,
) -> int:  # fmt: skip
    now = core.clock.now()
    async with core.db.transaction() as session:
        customer = Customer(
            display_name=name, tier=tier, tags=list(tags), attributes=attributes or {}, subscribed=subscribed,
            unreachable=unreachable, created_at=now - timedelta(days=created_days_ago),
            last_active_at=None if active_days_ago is None else now - timedelta(days=active_days_ago),
        )  # fmt: skip
        session.add(customer)
        await session.flush()
        if identity:
            session.add(ChannelIdentity(customer_id=customer.id, channel="web", address=f"visitor-{name}"))
        return customer.id


async def recipients(core: Core, run_id: int) -> list[str]:
    """Who an occurrence queued a message for, by name."""
    async with core.db.transaction() as session:
        query = (
            select(Customer.display_name)
            .join(OutboxItem, OutboxItem.customer_id == Customer.id)
            .where(OutboxItem.campaign_run_id == run_id, OutboxItem.kind == CampaignKind.CAMPAIGN)
            .order_by(Customer.display_name)
        )
        return list((await session.execute(query)).scalars())


async def send_now(core: Core, name: str, occurrence: str = "manual@test", **kwargs: Any) -> Any:
    now = core.clock.now()
    return await plan(core.db, core.settings, name, occurrence, due_at=now, now=now, **kwargs)


async def runs(core: Core) -> list[tuple[str, str]]:
    async with core.db.transaction() as session:
        rows = await session.execute(select(CampaignRun.campaign, CampaignRun.occurrence).order_by(CampaignRun.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


MESSAGE = {"message": "Hello {{ customer.first_name }}"}


# ---- audience -----------------------------------------------------------------------------------


async def test_the_audience_is_whom_each_campaign_describes_and_never_the_opted_out_or_unreachable(
    make_core: Any,
) -> None:
    audiences = {
        "everyone": {},
        "core_only": {"tiers": ["core"]},
        "vips": {"tags": ["vip"]},
        "core_vip_beta": {"tiers": ["core"], "tags": ["vip", "beta"]},
        "pro_plan": {"when": "customer.attributes.plan == 'pro' and customer.tenure_days > 100"},
        "big_spenders": {"when": "customer.lifetime_value >= 1000"},
        "win_back": {"inactive_days": 60},
    }
    async with make_core({name: {**MESSAGE, "audience": spec} for name, spec in audiences.items()}) as core:
        await add_customer(core, "Ana", tier="core", tags=("vip", "beta"), attributes={"plan": "pro"},
                           active_days_ago=5)  # fmt: skip
        await add_customer(core, "Bruno", tier="core", tags=("vip",), attributes={"lifetime_value": 2500})
        await add_customer(core, "Carla", tags=("beta",), attributes={"plan": "pro"}, created_days_ago=30,
                           active_days_ago=1)  # fmt: skip
        await add_customer(core, "Dev", tier="new", created_days_ago=90)
        # Never in any audience: opted out, blocked the bot, never wrote to it.
        await add_customer(core, "Olga", tier="core", tags=("vip", "beta"), subscribed=False)
        await add_customer(core, "Uma", tier="core", tags=("vip", "beta"), unreachable=True)
        await add_customer(core, "Nico", tier="core", tags=("vip", "beta"), identity=False)

        got = {name: await recipients(core, (await send_now(core, name)).run_id) for name in audiences}
    assert got == {
        "everyone": ["Ana", "Bruno", "Carla", "Dev"],
        "core_only": ["Ana", "Bruno"],
        "vips": ["Ana", "Bruno"],
        "core_vip_beta": ["Ana"],
        "pro_plan": ["Ana"],  # Carla is on pro too, but only for 30 days
        "big_spenders": ["Bruno"],
        "win_back": ["Bruno", "Dev"],  # no activity since they joined (400 and 90 days ago)
    }


async def test_the_preview_counts_the_audience_per_tier_and_who_is_left_out_and_why(make_core: Any) -> None:
    async with make_core({"news": {**MESSAGE, "audience": {"when": "customer.attributes.country == 'PT'"}}}) as core:
        for n in range(3):
            await add_customer(core, f"core-{n}", tier="core", attributes={"country": "PT"})
        await add_customer(core, "std", attributes={"country": "PT"})
        await add_customer(core, "abroad", attributes={"country": "BR"})
        await add_customer(core, "opted-out", subscribed=False)
        await add_customer(core, "blocked", unreachable=True)
        await add_customer(core, "no-chat-1", identity=False)
        await add_customer(core, "no-chat-2", identity=False)
        async with core.db.transaction() as session:
            target = Target("news", core.settings.campaigns["news"], core.clock.now())
            found = await breakdown(session, target)
    assert found.per_tier == {"core": 3, "standard": 1}
    assert found.size == 4
    assert found.left_out == {
        "opted out": 1, "unreachable": 1, "no chat identity": 2, "did not match when": 1,
    }  # fmt: skip


async def test_whoever_got_the_campaign_within_repeat_after_days_is_left_out_of_the_next_occurrence(
    make_core: Any, clock: FixedClock
) -> None:
    config = {"win_back": {**MESSAGE, "repeat_after_days": 30}}
    async with make_core(config) as core:
        for name in ("Ana", "Bruno", "Carla", "Dev"):
            await add_customer(core, name)
        first = await send_now(core, "win_back", "manual@2026-03-02")
        # What the dispatcher leaves behind: Ana's went out, Bruno's was skipped (he had opted out then),
        # Carla's is still held for quiet hours, Dev's was sent and its row finished.
        async with core.db.transaction() as session:
            rows = {
                r.customer_id: r
                for r in (
                    await session.execute(select(OutboxItem).where(OutboxItem.campaign_run_id == first.run_id))
                ).scalars()
            }
            ids = dict((await session.execute(select(Customer.display_name, Customer.id))).all())
            for name, decision in (("Ana", SENT), ("Bruno", SKIPPED), ("Dev", SENT)):
                row = rows[ids[name]]
                if decision == SENT:
                    await outbox.finish(session, row.id, clock.now())
                else:
                    await outbox.skip(session, row.id, clock.now(), "opted out")
                session.add(DeliveryDecision(
                    outbox_id=row.id, customer_id=row.customer_id, campaign_run_id=first.run_id, kind="campaign",
                    decision=decision, reason="test", created_at=clock.now(),
                ))  # fmt: skip
        await add_customer(core, "Eva")

        clock.advance(days=10)
        second = await send_now(core, "win_back", "manual@2026-03-12")
        assert await recipients(core, second.run_id) == ["Bruno", "Eva"]

        clock.advance(days=25)  # 35 days after the first: Bruno's and Eva's of the second are still on their way
        third = await send_now(core, "win_back", "manual@2026-04-06")
        assert await recipients(core, third.run_id) == ["Ana", "Carla", "Dev"]


# ---- planning -----------------------------------------------------------------------------------


async def test_planning_an_occurrence_twice_queues_each_customer_once(make_core: Any) -> None:
    async with make_core({"news": MESSAGE}) as core:
        for n in range(5):
            await add_customer(core, f"c{n}")
        first = await send_now(core, "news", chunk=2)
        second = await send_now(core, "news", chunk=2)
        assert (first.planned, first.added, first.already_planned) == (5, 5, False)
        assert (second.planned, second.added, second.already_planned) == (5, 0, True)
        assert second.run_id == first.run_id
        assert await recipients(core, first.run_id) == ["c0", "c1", "c2", "c3", "c4"]
        async with core.db.transaction() as session:
            (row,) = (await session.execute(select(OutboxItem).limit(1))).scalars()
        assert (row.kind, row.proactive, row.payload, row.status) == ("campaign", True, {"campaign": "news"}, "pending")


async def test_planned_messages_are_due_one_after_another_at_the_proactive_send_rate(make_core: Any) -> None:
    async with make_core({"news": MESSAGE}) as core:
        ids = [await add_customer(core, f"c{n}") for n in range(2)]
        await add_customer(core, "gone", subscribed=False)  # not in the audience: takes no slot
        ids += [await add_customer(core, f"c{n}") for n in range(2, 5)]
        result = await send_now(core, "news", chunk=2)
        async with core.db.transaction() as session:
            query = select(OutboxItem.customer_id, OutboxItem.due_at, OutboxItem.dedupe_key).order_by(OutboxItem.id)
            rows = (await session.execute(query)).all()
    pace = core.settings.telegram.max_per_second * core.settings.outreach.broadcast_share
    now = core.clock.now()
    # Across chunks (two customers each) the spread goes on where the last chunk left it.
    assert [(r.customer_id, r.due_at, r.dedupe_key) for r in rows] == [
        (c, now + timedelta(seconds=n / pace), f"campaign:{result.run_id}:{c}") for n, c in enumerate(ids)
    ]


async def test_planning_interrupted_after_a_chunk_resumes_where_it_stopped(make_core: Any) -> None:
    seen: list[tuple[int, int]] = []

    def crash_after_first_chunk(done: int, total: int) -> None:
        seen.append((done, total))
        raise RuntimeError("the process died")

    async with make_core({"news": MESSAGE}) as core:
        for n in range(5):
            await add_customer(core, f"c{n}")
        with pytest.raises(RuntimeError):
            await send_now(core, "news", chunk=2, progress=crash_after_first_chunk)
        assert seen == [(2, 5)]
        async with core.db.transaction() as session:
            (run,) = (await session.execute(select(CampaignRun))).scalars()
            assert (run.status, run.planned) == ("planning", 2)

        resumed: list[tuple[int, int]] = []
        result = await send_now(core, "news", chunk=2, progress=lambda done, total: resumed.append((done, total)))
        assert resumed == [(4, 5), (5, 5)]
        assert (result.planned, result.added) == (5, 3)
        assert await recipients(core, result.run_id) == ["c0", "c1", "c2", "c3", "c4"]
        async with core.db.transaction() as session:
            assert (await session.get(CampaignRun, result.run_id)).status == "planned"  # type: ignore[union-attr]


async def test_a_send_by_hand_interrupted_one_day_is_finished_by_the_next_days_send(
    make_core: Any, clock: FixedClock
) -> None:
    def crash(done: int, total: int) -> None:
        raise RuntimeError("Ctrl-C")

    async with make_core({"news": MESSAGE}) as core:
        zone = core.settings.business.zone
        for n in range(3):
            await add_customer(core, f"c{n}")
        key = await occurrence_to_send(core.db, zone, "news", clock.now())
        assert key == "manual@2026-03-02"
        with pytest.raises(RuntimeError):
            await send_now(core, "news", key, chunk=1, progress=crash)

        clock.advance(days=1)
        key = await occurrence_to_send(core.db, zone, "news", clock.now())
        assert key == "manual@2026-03-02"  # not a new day's occurrence, which would queue c0 again
        result = await send_now(core, "news", key)
        assert (result.planned, result.added) == (3, 2)
        assert await occurrence_to_send(core.db, zone, "news", clock.now()) == "manual@2026-03-03"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            {"news": {**MESSAGE, "enabled": False}},
            "campaign 'news' is disabled (enabled: false; enable it in the console or config.yaml)",
        ),
        ({"newz": MESSAGE}, "unknown campaign 'news' (did you mean \"newz\"?); known: newz"),
    ],
)
async def test_a_disabled_or_unknown_campaign_cannot_be_planned(make_core: Any, config: dict, error: str) -> None:
    async with make_core(config) as core:
        with pytest.raises(CampaignError) as raised:
            await send_now(core, "news")
        assert str(raised.value) == error
        assert await runs(core) == []


# ---- schedules ----------------------------------------------------------------------------------


async def test_missed_occurrences_after_downtime_are_coalesced_into_the_latest_one(
    make_core: Any, clock: FixedClock
) -> None:
    config = {"daily": {**MESSAGE, "schedule": {"*": "0 10 * * *"}, "expire_after_hours": 72}}
    async with make_core(config, business={"timezone": "Europe/Lisbon"}) as core:
        await add_customer(core, "Ana")
        # A fresh install on Monday 09:00 plans only Sunday 10:00's occurrence, not the 366 days before it.
        planned = await plan_due(core.db, core.settings, clock.now())
        assert [(r.campaign, r.occurrence, r.planned) for r in planned] == [("daily", "*@2026-03-01T10:00:00+00:00", 1)]
        clock.advance(hours=2)  # Monday 11:00: Monday's occurrence
        await plan_due(core.db, core.settings, clock.now())
        assert await plan_due(core.db, core.settings, clock.now()) == []  # nothing new the second time

        clock.advance(days=5)  # down from Monday 11:00 until Saturday 11:00: four missed, one planned
        planned = await plan_due(core.db, core.settings, clock.now())
        assert [r.occurrence for r in planned] == ["*@2026-03-07T10:00:00+00:00"]
        assert await runs(core) == [
            ("daily", "*@2026-03-01T10:00:00+00:00"),
            ("daily", "*@2026-03-02T10:00:00+00:00"),
            ("daily", "*@2026-03-07T10:00:00+00:00"),
        ]


async def test_an_occurrence_older_than_the_expiry_window_is_never_planned(make_core: Any, clock: FixedClock) -> None:
    config = {"monthly": {**MESSAGE, "schedule": {"*": "0 10 1 * *"}, "expire_after_hours": 24}}
    async with make_core(config) as core:
        await add_customer(core, "Ana")
        clock.current = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # the 1st's run is 25 hours old
        assert await plan_due(core.db, core.settings, clock.now()) == []
        clock.current = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
        assert [r.occurrence for r in await plan_due(core.db, core.settings, clock.now())] == [
            "*@2026-04-01T10:00:00+00:00"
        ]


async def test_core_customers_get_the_campaign_monthly_and_everyone_else_quarterly(
    make_core: Any, clock: FixedClock
) -> None:
    config = {
        "tips": {
            **MESSAGE,
            "audience": {"tiers": ["core", "standard", "new"]},
            "schedule": {"core": "0 10 1 * *", "*": "0 10 1 1,4,7,10 *"},
        }
    }
    async with make_core(config) as core:
        await add_customer(core, "Ana", tier="core")
        await add_customer(core, "Bruno", tier="standard")
        await add_customer(core, "Carla", tier="new")
        await add_customer(core, "Vera", tier="vip")  # not in the campaign's tiers at all

        sent: dict[str, list[str]] = {}
        for month in (2, 3, 4, 5):
            clock.current = datetime(2026, month, 1, 10, 5, tzinfo=UTC)
            for result in await plan_due(core.db, core.settings, clock.now()):
                sent[result.occurrence] = await recipients(core, result.run_id)
    assert sent == {
        "core@2026-02-01T10:00:00+00:00": ["Ana"],
        "core@2026-03-01T10:00:00+00:00": ["Ana"],
        "core@2026-04-01T10:00:00+00:00": ["Ana"],
        "*@2026-04-01T10:00:00+00:00": ["Bruno", "Carla"],
        "core@2026-05-01T10:00:00+00:00": ["Ana"],
    }


async def test_cron_weekdays_count_from_sunday_as_in_every_cron_manual(make_core: Any, clock: FixedClock) -> None:
    config = {"weekly": {**MESSAGE, "schedule": {"*": "0 10 * * 2"}}}  # Tuesdays
    async with make_core(config) as core:
        await add_customer(core, "Ana")
        clock.current = datetime(2026, 3, 3, 10, 30, tzinfo=UTC)  # Tuesday
        assert [r.occurrence for r in await plan_due(core.db, core.settings, clock.now())] == [
            "*@2026-03-03T10:00:00+00:00"
        ]


async def test_a_one_off_campaign_is_planned_once_when_its_time_comes(make_core: Any, clock: FixedClock) -> None:
    config = {"launch": {**MESSAGE, "at": "2026-03-05T10:00:00+01:00"}}
    async with make_core(config) as core:
        await add_customer(core, "Ana")
        assert await plan_due(core.db, core.settings, clock.now()) == []  # not yet
        clock.current = datetime(2026, 3, 5, 9, 1, tzinfo=UTC)
        (result,) = await plan_due(core.db, core.settings, clock.now())
        assert (result.occurrence, result.planned) == ("once@2026-03-05T09:00:00+00:00", 1)
        clock.advance(hours=1)
        assert await plan_due(core.db, core.settings, clock.now()) == []


async def test_an_interrupted_scheduled_planning_is_finished_by_the_next_tick(
    make_core: Any, clock: FixedClock
) -> None:
    config = {"daily": {**MESSAGE, "schedule": {"*": "0 8 * * *"}}}
    async with make_core(config) as core:
        for n in range(3):
            await add_customer(core, f"c{n}")

        def crash(done: int, total: int) -> None:
            raise RuntimeError("the leader died")

        now = clock.now()
        with pytest.raises(RuntimeError):
            await plan(core.db, core.settings, "daily", "*@2026-03-02T08:00:00+00:00", due_at=now, now=now,
                       chunk=1, progress=crash)  # fmt: skip
        (result,) = await plan_due(core.db, core.settings, clock.now())
        assert (result.occurrence, result.planned, result.added) == ("*@2026-03-02T08:00:00+00:00", 3, 2)


# ---- content and progress -----------------------------------------------------------------------


async def test_a_message_campaign_renders_for_the_customer_with_buttons_that_start_flows(make_core: Any) -> None:
    config = {
        "thanks": {
            "title": "Thank you", "kind": "thank_you",
            "message": "{{ customer.first_name }}, thanks from {{ business.name }} "
            "after {{ customer.tenure_days }} days!",
            "buttons": [{"label": "Tips", "flow": "value_tips"}],
        },
        "tips": {"flow": "value_tips"},
    }  # fmt: skip
    async with make_core(config, business={"name": "Acme"}) as core:
        customer_id = await add_customer(core, "Ana Lima", created_days_ago=400)
        async with core.db.transaction() as session:
            customer = await session.get(Customer, customer_id)
            assert customer is not None
            business, campaigns, now = core.settings.business, core.settings.campaigns, core.clock.now()
            thanks = await catalog.render(session, business, "thanks", campaigns["thanks"], customer, now=now)
            tips = await catalog.render(session, business, "tips", campaigns["tips"], customer, now=now)
    assert thanks == [Reply("Ana, thanks from Acme after 400 days!", (Button("Tips", "f:value_tips"),))]
    assert tips == []
    assert catalog.flow_to_start(core.settings.campaigns, "tips") == "value_tips"
    assert catalog.flow_to_start(core.settings.campaigns, "thanks") is None


async def test_a_campaign_naming_a_missing_flow_is_reported(make_core: Any) -> None:
    config = {"tips": {"flow": "value_tipz"}, "offer": {"message": "Hi", "buttons": [{"label": "Go", "flow": "nope"}]}}
    async with make_core(config) as core:
        flows = [lf.id for lf in core.registry.all()]
        assert catalog.content_problem(core.settings.campaigns, "tips", flows) == (
            "campaign 'tips' names flow 'value_tipz', which does not exist (did you mean \"value_tips\"?)"
        )
        assert catalog.content_problem(core.settings.campaigns, "offer", flows) == (
            "campaign 'offer' names flow 'nope', which does not exist"
        )


async def test_progress_counts_an_occurrences_rows_and_the_policys_decisions(make_core: Any) -> None:
    async with make_core({"news": MESSAGE}) as core:
        for n in range(3):
            await add_customer(core, f"c{n}")
        result = await send_now(core, "news")
        async with core.db.transaction() as session:
            first, second, _ = (await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars()
            await outbox.finish(session, first.id, core.clock.now())
            for row, decision, reason in ((first, SENT, "allowed"), (second, "held", "quiet hours")):
                session.add(DeliveryDecision(
                    outbox_id=row.id, customer_id=row.customer_id, campaign_run_id=result.run_id, kind="campaign",
                    decision=decision, reason=reason, created_at=core.clock.now(),
                ))  # fmt: skip
        progress = await catalog.progress(core.db, result.run_id)
    assert progress.outbox == {"pending": 2, DONE: 1}
    assert progress.decisions == {("sent", "allowed"): 1, ("held", "quiet hours"): 1}
    assert (progress.pending, progress.finished) == (2, False)


# ---- scale --------------------------------------------------------------------------------------

MANY = 100_000


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_100000_customer_campaign_is_planned_on_postgresql_in_seconds(make_core: Any) -> None:
    config = {"news": {**MESSAGE, "audience": {"tiers": ["core", "standard"]}}}
    async with make_core(config) as core:
        async with core.db.transaction() as session:
            await session.execute(text(
                "INSERT INTO customers (display_name, tier, attributes, tags, subscribed, unreachable, created_at) "
                "SELECT 'customer ' || n, CASE WHEN n % 5 = 0 THEN 'core' ELSE 'standard' END, '{}', '[]', "
                "n % 100 <> 0, false, now() FROM generate_series(1, :many) AS n"
            ), {"many": MANY})  # fmt: skip
            await session.execute(text(
                "INSERT INTO channel_identities (customer_id, channel, address, created_at) "
                "SELECT id, 'telegram', id::text, now() FROM customers"
            ))  # fmt: skip
        started = time.perf_counter()
        result = await send_now(core, "news")
        elapsed = time.perf_counter() - started
        print(f"\nplanned {result.planned} outbox rows for {MANY} customers in {elapsed:.1f} s")
        expected = MANY - MANY // 100  # one in a hundred opted out
        async with core.db.transaction() as session:
            rows = (await session.execute(select(func.count()).select_from(OutboxItem))).scalar_one()
        assert result.planned == rows == expected
        assert elapsed < 60
        # Planning it again is a no-op, and fast.
        assert (await send_now(core, "news")).already_planned
