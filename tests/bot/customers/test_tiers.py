"""Tier rules on real databases: top percent by value with ties, tenure and inactivity conditions,
first match wins, only changed customers are written, a failing condition matches nobody."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.config import Settings
from bot.customers import tiers
from bot.customers.models import Customer
from bot.storage.database import Database
from tests.conftest import make_settings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOP_20 = {"tier": "core", "top_percent": 20}
NEW = {"tier": "new", "when": "customer.tenure_days < 30"}
DORMANT = {"tier": "dormant", "when": "customer.days_inactive > 90"}

Configure = Callable[..., Settings]


@pytest.fixture
def configure(tmp_path: Path, database_url: str) -> Configure:
    def build(*rules: dict[str, Any], default: str = "standard", timezone: str = "UTC") -> Settings:
        return make_settings(tmp_path, database_url, tmp_path / "flows", business={"timezone": timezone},
                             tiers={"default": default, "rules": list(rules)})  # fmt: skip

    return build


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.dispose()


async def add(db: Database, **customers: dict[str, Any]) -> None:
    """Customers by external id; each created 400 days ago and active yesterday unless it says otherwise."""
    async with db.transaction() as session:
        for external_id, fields in customers.items():
            defaults = {"created_at": NOW - timedelta(days=400), "last_active_at": NOW - timedelta(days=1),
                        "attributes": {}, "tags": []}  # fmt: skip
            session.add(Customer(external_id=external_id, **{**defaults, **fields}))


async def recompute(db: Database, settings: Settings, now: datetime = NOW) -> dict[str, int]:
    async with db.transaction() as session:
        return await tiers.recompute(session, settings.tiers, settings.business.zone, now)


async def tier_of(db: Database) -> dict[str, str]:
    async with db.transaction() as session:
        rows = await session.execute(select(Customer.external_id, Customer.tier))
        return {external_id: tier for external_id, tier in rows}


def valued(*values: Any) -> dict[str, dict[str, Any]]:
    return {f"c{i}": {"attributes": {"lifetime_value": v}} for i, v in enumerate(values)}


# ---- top percent ----------------------------------------------------------------------------------


async def test_the_top_20_percent_by_lifetime_value_are_core_and_the_rest_get_the_default(
    db: Database, configure: Configure
) -> None:
    await add(db, **valued(500, 100, 900, 300, 700, 200, 800, 400, 600, 50))

    counts = await recompute(db, configure(TOP_20))

    assert counts == {"core": 2, "standard": 8}
    assert {c for c, tier in (await tier_of(db)).items() if tier == "core"} == {"c2", "c6"}  # 900 and 800


async def test_customers_tied_at_the_boundary_are_all_in_the_top_tier(db: Database, configure: Configure) -> None:
    # 10 customers, top 20% = 2 places: 900 and three customers tied at 800 share the second place.
    await add(db, **valued(900, 800, 800, 800, 700, 600, 500, 400, 300, 200))

    await recompute(db, configure(TOP_20))

    assert {c for c, tier in (await tier_of(db)).items() if tier == "core"} == {"c0", "c1", "c2", "c3"}


async def test_missing_words_and_zero_values_are_never_top_even_when_places_are_left(
    db: Database, configure: Configure
) -> None:
    # Top 50% of 8 customers = 4 places, but only two have a usable positive value ("1200" is numeric text,
    # as a CSV might leave it).
    await add(db, **valued(300, "1200", None, "lots", True, 0, -40), c7={"attributes": {}})

    counts = await recompute(db, configure({"tier": "core", "top_percent": 50}))

    assert counts == {"core": 2, "standard": 6}
    assert {c for c, tier in (await tier_of(db)).items() if tier == "core"} == {"c0", "c1"}


async def test_a_small_customer_base_still_has_a_best_customer(db: Database, configure: Configure) -> None:
    await add(db, **valued(10, 30, 20))  # 20% of 3 is 0.6 customers: the best one is in the top 20%

    await recompute(db, configure(TOP_20))

    assert await tier_of(db) == {"c0": "standard", "c1": "core", "c2": "standard"}


async def test_top_percent_can_rank_by_another_numeric_attribute(db: Database, configure: Configure) -> None:
    await add(db, a={"attributes": {"orders": 40, "lifetime_value": 10}},
              b={"attributes": {"orders": 2, "lifetime_value": 9000}})  # fmt: skip

    await recompute(db, configure({"tier": "loyal", "top_percent": 50, "by": "orders"}))

    assert await tier_of(db) == {"a": "loyal", "b": "standard"}


# ---- conditions -----------------------------------------------------------------------------------


async def test_tenure_counts_from_customer_since_and_otherwise_from_when_the_customer_was_created(
    db: Database, configure: Configure
) -> None:
    await add(
        db,
        imported_long_ago={"created_at": NOW - timedelta(days=2), "attributes": {"customer_since": "2019-05-01"}},
        imported_recently={"created_at": NOW - timedelta(days=2), "attributes": {"customer_since": "2026-02-20"}},
        bad_date={"created_at": NOW - timedelta(days=2), "attributes": {"customer_since": "last spring"}},
        chatted_today={"created_at": NOW - timedelta(hours=3)},
        chatted_last_year={"created_at": NOW - timedelta(days=365)},
    )
    settings = configure(NEW)

    await recompute(db, settings)
    assert await tier_of(db) == {
        "imported_long_ago": "standard", "imported_recently": "new", "bad_date": "new", "chatted_today": "new",
        "chatted_last_year": "standard",
    }  # fmt: skip

    # A month later nobody is new any more.
    await recompute(db, settings, NOW + timedelta(days=31))
    assert set((await tier_of(db)).values()) == {"standard"}


async def test_inactivity_counts_from_the_last_activity_else_the_last_message_else_creation(
    db: Database, configure: Configure
) -> None:
    long_ago, lately = NOW - timedelta(days=200), NOW - timedelta(days=10)
    await add(
        db,
        active_lately={"last_active_at": lately, "last_seen_at": long_ago},
        last_message_long_ago={"last_active_at": None, "last_seen_at": long_ago},
        wrote_lately={"last_active_at": None, "last_seen_at": lately},
        never_heard_from={"last_active_at": None, "created_at": long_ago},
    )
    settings = configure(DORMANT)

    await recompute(db, settings)
    assert await tier_of(db) == {
        "active_lately": "standard", "last_message_long_ago": "dormant", "wrote_lately": "standard",
        "never_heard_from": "dormant",
    }  # fmt: skip

    await recompute(db, settings, NOW + timedelta(days=81))  # 91 days after the last sign of life
    assert (await tier_of(db))["active_lately"] == "dormant"


async def test_conditions_see_attributes_tags_and_lifetime_value(db: Database, configure: Configure) -> None:
    await add(
        db,
        pro_vip={"attributes": {"plan": "pro", "lifetime_value": "2500"}, "tags": ["vip"]},
        pro_small={"attributes": {"plan": "pro", "lifetime_value": 20}, "tags": ["vip"]},
        free_vip={"attributes": {"plan": "free", "lifetime_value": 9000}, "tags": ["vip"]},
    )
    rule = {"tier": "key", "when": "customer.attributes.plan == 'pro' and 'vip' in customer.tags "
                                   "and customer.lifetime_value >= 1000"}  # fmt: skip

    await recompute(db, configure(rule))

    assert await tier_of(db) == {"pro_vip": "key", "pro_small": "standard", "free_vip": "standard"}


# ---- how rules combine ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param((TOP_20, NEW), {"rich_newcomer": "core", "newcomer": "new", "regular": "standard"},
                     id="core first"),
        pytest.param((NEW, TOP_20), {"rich_newcomer": "new", "newcomer": "new", "regular": "standard"},
                     id="new first"),
    ],
)  # fmt: skip
async def test_the_first_matching_rule_wins(
    db: Database, configure: Configure, rules: tuple[dict[str, Any], ...], expected: dict[str, str]
) -> None:
    recent = NOW - timedelta(days=5)
    await add(
        db,
        rich_newcomer={"created_at": recent, "attributes": {"lifetime_value": 5000}},
        newcomer={"created_at": recent, "attributes": {"lifetime_value": 10}},
        regular={"attributes": {"lifetime_value": 20}},
        **{f"other{i}": {"attributes": {"lifetime_value": 30}} for i in range(7)},
    )

    await recompute(db, configure(*rules))

    assert {c: t for c, t in (await tier_of(db)).items() if not c.startswith("other")} == expected


async def test_a_rule_with_top_percent_and_when_needs_both(db: Database, configure: Configure) -> None:
    long_ago = NOW - timedelta(days=200)
    await add(
        db,
        rich_and_gone={"attributes": {"lifetime_value": 900}, "last_active_at": long_ago},
        rich_and_active={"attributes": {"lifetime_value": 800}},
        poor_and_gone={"attributes": {"lifetime_value": 5}, "last_active_at": long_ago},
        **{f"other{i}": {"attributes": {"lifetime_value": 10}} for i in range(7)},
    )
    rule = {"tier": "at_risk", "top_percent": 20, "when": "customer.days_inactive > 90"}

    counts = await recompute(db, configure(rule))

    assert counts == {"at_risk": 1, "standard": 9}
    assert (await tier_of(db))["rich_and_gone"] == "at_risk"


async def test_the_counts_name_every_configured_tier_even_when_empty(db: Database, configure: Configure) -> None:
    await add(db, **valued(100, 200))

    counts = await recompute(db, configure(TOP_20, NEW, DORMANT, default="regular"))

    assert counts == {"regular": 1, "core": 1, "new": 0, "dormant": 0}


# ---- writing --------------------------------------------------------------------------------------


async def test_only_customers_whose_tier_changes_are_written(db: Database, configure: Configure) -> None:
    await add(db, **valued(100, 200, 300, 400, 500))
    settings = configure({"tier": "core", "top_percent": 40})
    await recompute(db, settings)

    async with db.transaction() as session:  # c2 (300) overtakes c3 (400) and c4 (500) stays on top
        customer = (await session.execute(select(Customer).where(Customer.external_id == "c2"))).scalar_one()
        customer.attributes = {"lifetime_value": 450}
    later = NOW + timedelta(days=1)
    await recompute(db, settings, later)

    async with db.transaction() as session:
        rows = await session.execute(select(Customer.external_id, Customer.tier, Customer.tier_updated_at))
        updated = {external_id: (tier, stamp) for external_id, tier, stamp in rows}
    assert updated == {
        "c0": ("standard", None), "c1": ("standard", None),  # never changed: never written
        "c2": ("core", later), "c3": ("standard", later),  # changed today
        "c4": ("core", NOW),  # core since yesterday: its stamp says so
    }  # fmt: skip


async def test_customers_added_in_the_same_session_are_ranked_too(db: Database, configure: Configure) -> None:
    """An import adds customers and recomputes before it commits."""
    await add(db, **valued(100))
    async with db.transaction() as session:
        session.add(Customer(external_id="imported", attributes={"lifetime_value": 999}, tags=[], created_at=NOW))
        settings = configure({"tier": "core", "top_percent": 50})
        counts = await tiers.recompute(session, settings.tiers, settings.business.zone, NOW)

    assert counts == {"core": 1, "standard": 1}
    assert await tier_of(db) == {"c0": "standard", "imported": "core"}


# ---- a condition that fails -----------------------------------------------------------------------


async def test_a_condition_that_fails_for_some_customers_matches_none_of_them_and_is_logged_once(
    db: Database, configure: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    await add(
        db,
        busy={"attributes": {"orders": 12}},
        quiet={"attributes": {"orders": 1}},
        **{f"unknown{i}": {"attributes": {}} for i in range(5)},  # no orders: comparing nothing with 10 fails
    )
    rule = {"tier": "frequent", "when": "customer.attributes.orders > 10"}

    with caplog.at_level(logging.INFO, logger="bot.customers.tiers"):
        counts = await recompute(db, configure(rule, NEW))

    assert counts == {"frequent": 1, "standard": 6, "new": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "tier rule 1 (frequent)" in warnings[0] and "failed for 5 customers" in warnings[0]
    assert any("1 of 7 customers changed tier (standard -> frequent 1)" in r.getMessage() for r in caplog.records)


# ---- values stored before the input limits -----------------------------------------------------------------------

# Attribute documents as JSON text, as older versions or a hand edit may have left them; NUL and lone surrogate
# escapes make PostgreSQL fail any json operator on the whole document.
STORED_BEFORE = {
    "x-inf": '{"lifetime_value": 1e400}',
    "x-huge": '{"lifetime_value": 1' + "0" * 400 + "}",
    "x-text": '{"lifetime_value": "1e100000"}',
    "x-nan": '{"lifetime_value": "NaN", "plan": "pro"}',
    "x-garbage": '{"lifetime_value": {"oops": [1, 2]}}',
    "x-nul": '{"lifetime_value": 50, "plan": "pro\\u0000"}',
    "x-surrogate": '{"lifetime_value": 850, "name": "\\ud800"}',
}


async def store(db: Database, documents: dict[str, str]) -> None:
    await add(db, **{external_id: {} for external_id in documents})
    async with db.transaction() as session:
        value = "CAST(:doc AS json)" if db.is_postgres else ":doc"
        for external_id, document in documents.items():
            statement = text(f"UPDATE customers SET attributes = {value} WHERE external_id = :ext")
            await session.execute(statement, {"doc": document, "ext": external_id})


async def test_values_stored_before_the_limits_rank_as_nothing_and_the_others_are_ranked_right(
    db: Database, configure: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    await add(db, **valued(100, 200, 300, 400, 500, 600, 700, 800))
    await store(db, STORED_BEFORE)
    settings = configure(TOP_20, {"tier": "big", "when": "customer.lifetime_value >= 600"},
                         {"tier": "pro", "when": "customer.attributes.plan == 'pro'"})  # fmt: skip

    with caplog.at_level(logging.WARNING, logger="bot.customers.tiers"):
        counts = await recompute(db, settings)

    # 15 customers: the top 20% are the 3 best (850, 800, 700); big: 600; pro: "pro" and "pro\x00", cleaned.
    assert counts == {"standard": 9, "core": 3, "big": 1, "pro": 2}
    tiers_now = await tier_of(db)
    assert {e for e, t in tiers_now.items() if t == "core"} == {"x-surrogate", "c7", "c6"}
    assert {e for e, t in tiers_now.items() if t == "pro"} == {"x-nan", "x-nul"}
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("tiers: lifetime_value of 5 customers is not a usable number"), warning

    async with db.transaction() as session:
        total, _valued, best = await tiers.best(session, 3)
    assert (total, [(c.external_id, value) for c, value in best]) == (
        15, [("x-surrogate", 850.0), ("c7", 800.0), ("c6", 700.0)],
    )  # fmt: skip
