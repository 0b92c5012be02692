"""`engagebot customers top` and `engagebot customers tiers`, run as a shell runs them
(tests/support/cli.py) against a database seeded as an import would leave it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.customers.models import Customer
from bot.storage.database import Database
from tests.bot.test_config_tiers import RULES as CONFIG  # core: the top 20% by value; new: under 30 days
from tests.handlers.test_cli_tickets import engagebot, ok


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


async def seed(database_url: str, *customers: dict[str, Any]) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        async with db.transaction() as session:
            session.add_all(Customer(tags=[], **fields) for fields in customers)
    finally:
        await db.dispose()


async def tiers_in(database_url: str) -> dict[str | None, str]:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            return {e: t for e, t in await session.execute(select(Customer.external_id, Customer.tier))}
    finally:
        await db.dispose()


def customer(n: int, value: Any, *, days: int = 400, name: str | None = None) -> dict[str, Any]:
    """Customer CRM-n, a customer for `days` days, last active n days ago."""
    now = datetime.now(UTC)
    attributes = {} if value is None else {"lifetime_value": value}
    return {"external_id": f"CRM-{n}", "display_name": name or f"Customer {n}", "attributes": attributes,
            "created_at": now - timedelta(days=days), "last_active_at": now - timedelta(days=n)}  # fmt: skip


async def test_top_lists_the_best_customers_by_lifetime_value(workdir: Path, database_url: str) -> None:
    await seed(
        database_url,
        customer(1, 250.5, name="Ana Lima"),
        customer(2, 9800, name="Ben Okafor"),
        customer(3, None, name="Cara Sato"),  # no value: never among the best
        customer(4, "1200", name="Dan Weiss", days=12),  # numeric text, as a CSV may leave it
        *(customer(n, n) for n in range(5, 17)),
    )

    lines = ok(engagebot(workdir, "customers", "top", "3", database_url=database_url)).splitlines()

    assert lines[0].split() == ["id", "external", "id", "name", "tier", "lifetime", "value", "tenure", "last", "active"]
    assert lines[-1] == (
        "top 3 of the 15 customers with a lifetime value (16 in all); `engagebot customers top 15` lists them all"
    )
    rows = [line.split() for line in lines[1:-1]]
    today = datetime.now(UTC)
    assert rows == [
        ["2", "CRM-2", "Ben", "Okafor", "standard", "9,800.00", "400", "d", (today - timedelta(days=2)).strftime("%F")],
        ["4", "CRM-4", "Dan", "Weiss", "standard", "1,200.00", "12", "d", (today - timedelta(days=4)).strftime("%F")],
        ["1", "CRM-1", "Ana", "Lima", "standard", "250.50", "400", "d", (today - timedelta(days=1)).strftime("%F")],
    ]  # fmt: skip
    # Without a number, the ten best.
    assert len(ok(engagebot(workdir, "customers", "top", database_url=database_url)).splitlines()) == 1 + 10 + 1


async def test_top_says_so_when_there_is_nobody_to_list(workdir: Path, database_url: str) -> None:
    assert ok(engagebot(workdir, "customers", "top", database_url=database_url)) == "no customers yet\n"

    await seed(database_url, customer(1, None), customer(2, 0))
    listed = ok(engagebot(workdir, "customers", "top", database_url=database_url))
    assert listed.startswith("none of the 2 customers has a lifetime_value yet")


async def test_tiers_shows_the_distribution_and_recompute_shows_what_changed(workdir: Path, database_url: str) -> None:
    # Ten customers: the two best are core, one joined last week, the rest are standard.
    await seed(database_url, *(customer(n, n * 100) for n in range(1, 10)), customer(10, 5, days=7))

    before = ok(engagebot(workdir, "customers", "tiers", database_url=database_url)).splitlines()
    assert [line.split()[:3] for line in before] == [
        ["tier", "customers", "share"], ["core", "0", "0%"], ["new", "0", "0%"], ["standard", "10", "100%"],
    ]  # fmt: skip
    assert before[1].endswith("top 20% by lifetime_value") and before[2].endswith("when customer.tenure_days < 30")

    recomputed = ok(engagebot(workdir, "customers", "tiers", "--recompute", database_url=database_url)).splitlines()
    assert recomputed[:3] == ["recomputed: 3 of 10 customers changed tier", "  standard -> core: 2",
                              "  standard -> new: 1"]  # fmt: skip
    assert [line.split()[:4] for line in recomputed[3:]] == [
        ["tier", "customers", "share", "change"], ["core", "2", "20%", "+2"], ["new", "1", "10%", "+1"],
        ["standard", "7", "70%", "-3"],
    ]  # fmt: skip
    tiers = await tiers_in(database_url)
    assert (tiers["CRM-9"], tiers["CRM-8"], tiers["CRM-10"], tiers["CRM-7"]) == ("core", "core", "new", "standard")

    again = ok(engagebot(workdir, "customers", "tiers", "--recompute", database_url=database_url))
    assert again.startswith("recomputed: 0 of 10 customers changed tier\ntier ")


async def test_values_stored_before_the_input_limits_rank_as_nothing_and_say_so(
    workdir: Path, database_url: str
) -> None:
    await seed(database_url, *(customer(n, n * 100) for n in range(1, 10)),
               customer(10, 10**400), customer(11, "1e100000"), customer(12, "NaN"))  # fmt: skip

    top = engagebot(workdir, "customers", "top", "2", database_url=database_url)
    recomputed = engagebot(workdir, "customers", "tiers", "--recompute", database_url=database_url)

    assert [line.split()[1] for line in ok(top).splitlines()[1:-1]] == ["CRM-9", "CRM-8"]
    assert ok(recomputed).startswith("recomputed: 3 of 12 customers changed tier")
    for result in (top, recomputed):
        [warning] = [line for line in result.stderr.splitlines() if "not a usable number" in line]
        assert "lifetime_value of 3 customers" in warning and "the first, customer #10" in warning, warning
    tiers = await tiers_in(database_url)
    assert {e for e, t in tiers.items() if t == "core"} == {"CRM-9", "CRM-8", "CRM-7"}
