"""The customers facade adapters call: a customer by id or ext:ID, their export and erasure, lists, tiers, CRM
events and imports, each one unit of work answered with a named view."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core import Core
from bot.customers import events
from bot.customers.links import LinkCode
from bot.customers.models import Customer
from bot.customers.views import CustomerProfile
from tests.conftest import Chat


async def a_crm_customer(core: Core, external_id: str = "C-1", **customer: object) -> int:
    body = {"event": "purchased", "event_id": f"e-{external_id}", "data": {"amount": 120},
            "customer": {"external_id": external_id, **customer}}  # fmt: skip
    [recorded] = await core.customers.record_events(body)
    assert isinstance(recorded, events.Recorded)
    return recorded.customer_id


def test_the_profile_has_a_field_for_every_column_in_the_tables_order() -> None:
    # The API's JSON is the profile's fields in order: a column added to customers must be added here too.
    columns = [c.name for c in Customer.__table__.columns]
    assert [f.name for f in fields(CustomerProfile)] == [*columns, "identities"]


async def test_a_customer_is_found_by_id_or_external_id_and_shown_with_their_chats(core: Core) -> None:
    await Chat(core, channel="telegram", address="1001").say("hi")
    customer_id = await a_crm_customer(core, telegram_chat_id="1001", email="ana@example.com")

    by_id = await core.customers.profile(customer_id)
    by_external_id = await core.customers.profile("C-1")

    assert by_id == by_external_id
    assert by_id is not None
    assert (by_id.external_id, by_id.email, by_id.display_name) == ("C-1", "ana@example.com", "Ana Lima")
    assert [(i.channel, i.address) for i in by_id.identities] == [("telegram", "1001")]
    shown = by_id.to_json()
    assert list(shown) == [f.name for f in fields(CustomerProfile)]
    assert shown["created_at"] == by_id.created_at.isoformat()
    assert shown["identities"][0]["address"] == "1001"
    json.dumps(shown)


async def test_nobody_is_none_for_every_action(core: Core) -> None:
    for ref in (99, "nobody", 2**40):
        assert await core.customers.profile(ref) is None
        assert await core.customers.export(ref) is None
        assert await core.customers.erase(ref) is None
    assert await core.customers.issue_link_code(99, timedelta(days=1)) is None


async def test_export_then_erase(core: Core) -> None:
    customer_id = await a_crm_customer(core)
    await a_crm_customer(core, "C-2")  # someone else, who stays

    exported = await core.customers.export("C-1")
    assert exported is not None
    data = exported.to_json()
    assert data["customer"]["id"] == customer_id and next(iter(data)) == "customer"
    assert [e["event_id"] for e in data["customer_events"]] == ["e-C-1"]

    erased = await core.customers.erase("C-1")
    assert erased is not None
    assert erased.to_json() == {"deleted": customer_id, "rows": erased.rows}
    assert erased.rows["customers"] == 1 and erased.rows["customer_events"] == 1
    assert await core.customers.profile("C-1") is None
    assert await core.customers.profile("C-2") is not None


async def test_the_list_has_the_newest_first_with_their_chats(core: Core) -> None:
    await Chat(core, channel="web", address="visitor-a", name="Ana").say("hi")
    await Chat(core, channel="web", address="visitor-b", name="Ben").say("hi")

    listed = await core.customers.recent(limit=10)

    assert [(c.display_name, c.channels) for c in listed] == [("Ben", ("web:visitor-b",)), ("Ana", ("web:visitor-a",))]
    assert await core.customers.recent(limit=1) == listed[:1]


async def test_a_link_code_is_issued_for_a_customer(core: Core) -> None:
    customer_id = await a_crm_customer(core)
    code = await core.customers.issue_link_code(customer_id, timedelta(days=7))
    assert code
    async with core.db.transaction() as session:
        link = await session.get(LinkCode, code)
        assert link is not None and link.customer_id == customer_id


async def test_top_and_tiers(core: Core) -> None:
    for n, value in enumerate((10, 500, 0)):
        await a_crm_customer(core, f"C-{n}", attributes={"lifetime_value": value})

    top = await core.customers.top(5)
    assert top.total == 3
    assert [(c.external_id, c.lifetime_value) for c in top.best] == [("C-1", 500.0), ("C-0", 10.0)]
    assert all(c.tenure_days == 0 and c.last_active_at is not None for c in top.best)

    report = await core.customers.tiers()
    assert report.before == {"standard": 3} and report.reassignment is None and report.after == report.before
    recomputed = await core.customers.tiers(recompute=True)
    assert recomputed.reassignment is not None and recomputed.after == recomputed.reassignment.counts


async def test_bad_events_are_refused_and_nothing_is_recorded(core: Core) -> None:
    with pytest.raises(events.EventErrors):
        await core.customers.record_events([{"event": "purchased", "customer": {"external_id": "C-1"}}, {}])
    async with core.db.transaction() as session:
        assert (await session.execute(select(Customer))).first() is None


async def test_an_import_recomputes_tiers_only_when_it_changed_customers(core: Core, tmp_path: Path) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_text("external_id,name\nC-1,Ana\nC-2,Ben\n", encoding="utf-8")

    dry = await core.customers.import_csv(csv, dry_run=True)
    assert (dry.report.created, dry.tiers) == (2, None)
    done = await core.customers.import_csv(csv)
    assert (done.report.created, done.tiers) == (2, {"standard": 2})
    again = await core.customers.import_csv(csv)
    assert (again.report.unchanged, again.tiers) == (2, None)
