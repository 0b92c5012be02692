"""A customer's data: everything stored comes out in the export, and delete leaves no row behind."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.core import Core
from bot.customers import events, links, privacy
from bot.customers.models import Customer
from bot.incidents.models import Incident, IncidentCustomer
from bot.messages import ChannelRef, Reply
from bot.retention.models import Cancellation, CrosssellOffer
from bot.rewards.models import RewardCode
from bot.storage.base import Base
from tests.conftest import Chat

COMPLAINT = ["/complain", "My parcel never arrived", "Order & delivery", "Skip", "Quite a lot"]


class Telegram:
    name = "telegram"

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        return None


async def a_customer_with_a_history(core: Core, address: str, external_id: str) -> int:
    """A Telegram customer who chatted (once in words nothing matched, kept in unmatched_messages), complained,
    answered a survey, got a link code and CRM events, was affected by an incident and given a reward code."""
    chat = Chat(core, channel="telegram", address=address, name="Ana Lima")
    # "cancel" leaves onboarding's question, so the next words are matched against the flows, not taken as an answer.
    for line in ["hi", "cancel", "do you have parking?", *COMPLAINT]:
        await chat.say(line)
    await chat.say("/nps")
    await chat.say("9")
    await chat.say("Fast delivery")
    # signed_up starts a flow, so the delivery policy records a decision (deferred: the ticket is open).
    body = {"event": "signed_up", "event_id": f"o-{address}", "data": {"plan": "pro"},
            "customer": {"external_id": external_id, "telegram_chat_id": address}}  # fmt: skip
    async with core.db.transaction() as session:
        recorded = await events.record(session, core.settings.tiers, events.parse_event(body, "US"), core.clock.now())
        await links.issue(session, recorded.customer_id, core.clock.now(), timedelta(days=1))
        # An incident affected them, and a reward code was given to them.
        incident = Incident(title="Late deliveries", audience={"all": True})
        session.add(incident)
        await session.flush()
        session.add(IncidentCustomer(incident_id=incident.id, customer_id=recorded.customer_id))
        session.add(RewardCode(pool="sorry", code=f"SORRY-{address}", customer_id=recorded.customer_id,
                               reason="ticket:C-1001", given_at=core.clock.now()))  # fmt: skip
        # The retention playbook's rows: a cancellation with its reason, and a cross-sell offer.
        session.add(
            Cancellation(
                customer_id=recorded.customer_id,
                source=f"event:test-{address}",
                reason="price",
                details="Too dear",
                cancelled_at=core.clock.now(),
                created_at=core.clock.now(),
            )
        )
        session.add(CrosssellOffer(customer_id=recorded.customer_id, rule="beans_to_grinder", product="grinder",
                                   queued_at=core.clock.now()))  # fmt: skip
    await core.dispatcher.drain()
    return recorded.customer_id


async def rows_of(core: Core, customer_id: int) -> dict[str, int]:
    """How many rows each table holds about the customer, walking the metadata (not privacy's own list)."""
    counts: dict[str, int] = {}
    async with core.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            if "customer_id" in table.c:
                where = table.c.customer_id == customer_id
            elif table.name == "customers":
                where = table.c.id == customer_id
            elif table.name == "ticket_events":
                tickets = Base.metadata.tables["tickets"]
                where = table.c.ticket_id.in_(select(tickets.c.id).where(tickets.c.customer_id == customer_id))
            else:
                continue
            query = select(func.count()).select_from(table).where(where)
            counts[table.name] = (await session.execute(query)).scalar_one()
    return counts


async def test_the_export_has_everything_stored_about_the_customer(core: Core) -> None:
    core.add_channel(Telegram())
    ana = await a_customer_with_a_history(core, "1001", "C-1")
    await a_customer_with_a_history(core, "2002", "C-2")  # someone else, who must not appear

    async with core.db.transaction() as session:
        found = await privacy.export(session, ana)
    assert found is not None
    exported = found.to_json()
    json.dumps(exported)  # JSON-able as it is

    stored = await rows_of(core, ana)
    assert all(stored.values()), stored  # the history reaches every table that can hold customer data
    for table, count in stored.items():
        if table == "customers":
            assert exported["customer"]["id"] == ana
        elif table == "ticket_events":
            assert sum(len(t["ticket_events"]) for t in exported["tickets"]) == count > 0
        else:
            assert len(exported[table]) == count, table
            assert all(row["customer_id"] == ana for row in exported[table])
    assert exported["customer"]["external_id"] == "C-1"
    assert exported["channel_identities"][0]["address"] == "1001"
    assert exported["customer_events"][0]["data"] == {"plan": "pro"}
    assert exported["survey_responses"][0]["score"] == 9
    assert exported["tickets"][0]["ticket_events"][0]["kind"] == "opened"
    assert {"My parcel never arrived", "Fast delivery"} <= {m["text"] for m in exported["messages"]}
    assert len(exported["link_codes"]) == 1
    assert [m["text"] for m in exported["unmatched_messages"]] == ["do you have parking?"]
    assert exported["outbox"] and exported["conversation_runs"]


async def test_after_delete_no_row_refers_to_the_customer_and_others_keep_theirs(core: Core) -> None:
    core.add_channel(Telegram())
    ana = await a_customer_with_a_history(core, "1001", "C-1")
    ben = await a_customer_with_a_history(core, "2002", "C-2")
    ben_before = await rows_of(core, ben)

    async with core.db.transaction() as session:
        counts = await privacy.delete(session, ana)

    assert counts is not None and counts["customers"] == 1 and counts["messages"] > 0 and counts["ticket_events"] > 0
    assert set((await rows_of(core, ana)).values()) == {0}
    assert await rows_of(core, ben) == ben_before
    async with core.db.transaction() as session:
        assert await privacy.find(session, "C-1") is None
        assert await privacy.delete(session, ana) is None  # already gone

    # Writing again later makes a new customer, not a revived one.
    await Chat(core, channel="telegram", address="1001").say("hello again")
    async with core.db.transaction() as session:
        again = await privacy.find(session, "C-1")
        newest = (await session.execute(select(func.max(Customer.id)))).scalar_one()
    assert again is None and newest not in (ana, ben)


@pytest.mark.parametrize(("ref", "parsed"), [("42", 42), ("ext:C-1", "C-1"), ("ext:a:b/c", "a:b/c")])
def test_a_reference_is_an_id_or_an_external_id(ref: str, parsed: int | str) -> None:
    assert privacy.parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", "ext:", "C-1", "-3", "4.5", "٣"])
def test_anything_else_is_not_a_reference(ref: str) -> None:
    with pytest.raises(ValueError, match="use a customer id"):
        privacy.parse_ref(ref)


async def test_an_id_too_large_for_the_database_is_simply_not_found(core: Core) -> None:
    async with core.db.transaction() as session:
        assert await privacy.find(session, 2**40) is None
