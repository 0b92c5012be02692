"""CRM events: attribute effects, profiles, idempotency by event_id, and flows they start."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.core import Core
from bot.customers import events
from bot.customers.events import EventConflict, EventErrors, Recorded
from bot.customers.models import ChannelIdentity, Customer, CustomerEvent
from bot.messages import ChannelRef, Reply
from bot.outreach.models import OutboxItem
from tests.conftest import Chat


async def send(core: Core, body: Any) -> list[Recorded]:
    parsed = events.parse_body(body, core.settings.business.default_region)
    async with core.db.transaction() as session:
        return [await events.record(session, core.settings, e, core.clock.now()) for e in parsed]


async def customer(core: Core, external_id: str) -> Customer:
    async with core.db.transaction() as session:
        return (await session.execute(select(Customer).where(Customer.external_id == external_id))).scalar_one()


async def count(core: Core, model: Any) -> int:
    async with core.db.transaction() as session:
        return len((await session.execute(select(model))).all())


async def test_an_unknown_customer_is_created_with_the_profile_the_event_carries(core: Core) -> None:
    [done] = await send(core, {"event": "signed_up", "customer": {
        "external_id": "C-1", "name": "Ana Lima", "email": "Ana@Example.com", "timezone": "Europe/Lisbon",
        "phone": "+351 912 345 678", "language": "pt"}})  # fmt: skip

    assert (done.customer_created, done.duplicate, done.flows_queued) == (True, False, True)
    ana = await customer(core, "C-1")
    assert (ana.display_name, ana.email, ana.timezone, ana.phone, ana.language, ana.subscribed) == (
        "Ana Lima", "Ana@example.com", "Europe/Lisbon", "+351912345678", "pt", True,
    )  # fmt: skip
    now = core.clock.now()
    assert ana.attributes == {"signed_up_at": now.isoformat(), "customer_since": now.date().isoformat()}
    assert ana.last_active_at == now


async def test_purchases_add_up_lifetime_value_and_orders(core: Core) -> None:
    buyer = {"external_id": "C-1"}
    await send(core, {"event": "purchased", "customer": buyer, "data": {"amount": 19.99, "currency": "EUR"}})
    core.clock.advance(hours=2)
    [second] = await send(core, {"event": "purchased", "customer": buyer, "data": {"amount": "5.01"}})

    assert second.customer_created is False
    attributes = (await customer(core, "C-1")).attributes
    assert attributes == {"lifetime_value": 25, "orders": 2, "last_purchase_at": core.clock.now().isoformat()}
    assert await count(core, CustomerEvent) == 2


async def test_activation_cancellation_and_custom_events_set_their_attributes(core: Core) -> None:
    who = {"external_id": "C-1"}
    since = "2020-05-01"
    await send(core, {"event": "signed_up", "customer": {**who, "attributes": {"customer_since": since}}})
    await send(core, {"event": "activated", "customer": who, "occurred_at": "2026-03-01T10:00:00+01:00"})
    await send(core, {"event": "cancelled", "customer": who, "attributes": {"churn_reason": "price", "plan": None}})
    await send(core, {"event": "webinar_attended", "customer": who, "attributes": {"webinars": 1}})

    attributes = (await customer(core, "C-1")).attributes
    now = core.clock.now().isoformat()
    assert attributes == {
        "customer_since": since,  # given, so signed_up leaves it
        "signed_up_at": now,
        "activated_at": "2026-03-01T09:00:00+00:00",
        "cancelled_at": now,
        "churn_reason": "price",
        "webinars": 1,
    }


async def test_a_late_old_event_does_not_move_dates_back(core: Core) -> None:
    who = {"external_id": "C-1"}
    await send(core, {"event": "purchased", "customer": who, "data": {"amount": 10}})
    await send(core, {"event": "purchased", "customer": who, "data": {"amount": 10},
                      "occurred_at": "2025-01-01T00:00:00Z"})  # fmt: skip

    found = await customer(core, "C-1")
    assert found.attributes["last_purchase_at"] == core.clock.now().isoformat()
    assert found.last_active_at == core.clock.now()
    assert (found.attributes["orders"], found.attributes["lifetime_value"]) == (2, 20)


async def test_a_retried_event_is_recognised_and_applied_once(core: Core) -> None:
    body = {"event": "purchased", "event_id": "order-77", "customer": {"external_id": "C-1"}, "data": {"amount": 30}}
    [first] = await send(core, body)
    [again] = await send(core, body)
    [in_one_batch] = (await send(core, [body, body]))[1:]

    assert (first.duplicate, again.duplicate, in_one_batch.duplicate) == (False, True, True)
    assert again.id == first.id and again.customer_id == first.customer_id
    assert (await customer(core, "C-1")).attributes["lifetime_value"] == 30
    assert await count(core, CustomerEvent) == 1
    assert await count(core, OutboxItem) == 1


async def test_an_opt_out_given_in_chat_wins_over_an_event(core: Core) -> None:
    chat = Chat(core, channel="telegram", address="555")
    await chat.say("/stop")
    await chat.press("Yes")

    await send(core, {"event": "signed_up", "customer": {"external_id": "C-9", "telegram_chat_id": 555,
                                                         "subscribed": True}})  # fmt: skip

    found = await customer(core, "C-9")  # the chat customer, now known by the CRM's id
    assert found.subscribed is False
    assert await count(core, Customer) == 1


@dataclass
class RecordingChannel:
    """The Telegram Channel port, recording what the bot sends."""

    name: str = "telegram"
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        self.sent += [(ref.address, reply.text) for reply in replies]


async def test_signed_up_starts_onboarding_once_the_dispatcher_runs(core: Core) -> None:
    telegram = RecordingChannel()
    core.add_channel(telegram)
    body = {"event": "signed_up", "event_id": "su-1",
            "customer": {"external_id": "C-1", "name": "Ana Lima", "telegram_chat_id": "1001"}}  # fmt: skip

    await send(core, body)
    assert telegram.sent == []  # queued, not sent inside the request
    await core.dispatcher.drain()

    assert telegram.sent and telegram.sent[0][0] == "1001"
    assert "Hi Ana, welcome to" in telegram.sent[0][1]
    await send(core, body)  # the sender retries
    await core.dispatcher.drain()
    assert sum("welcome to" in text for _, text in telegram.sent) == 1


async def test_an_old_event_is_recorded_but_starts_no_flow(core: Core) -> None:
    old = (core.clock.now() - timedelta(days=30)).isoformat()
    [done] = await send(core, {"event": "signed_up", "customer": {"external_id": "C-1"}, "occurred_at": old})

    assert done.flows_queued is False
    assert await count(core, OutboxItem) == 0
    assert (await customer(core, "C-1")).attributes["customer_since"] == old[:10]


async def test_a_chat_id_that_is_another_customers_is_refused(core: Core) -> None:
    await send(core, {"event": "signed_up", "customer": {"external_id": "C-1", "telegram_chat_id": 1001}})
    with pytest.raises(EventConflict, match=r"customer\.telegram_chat_id: 1001 already belongs to customer #1"):
        await send(core, {"event": "signed_up", "customer": {"external_id": "C-2", "telegram_chat_id": 1001}})
    async with core.db.transaction() as session:
        assert (await session.execute(select(ChannelIdentity.customer_id))).scalars().all() == [1]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ([], ["body: is an empty list; send one event or a list of events"]),
        ("signed_up", ["body: must be a JSON object (an event)"]),
        ({"event": "Signed Up!", "customer": {"external_id": "C-1"}},
         ["event: must be a name like signed_up, purchased, activated, cancelled (a-z, 0-9, _; up to 64 "
          "characters, starting with a letter)"]),
        ({"event": "ticket_resolved", "customer": {"external_id": "C-1"}},
         ['event: "ticket_resolved" is one of the bot\'s own events and cannot be sent']),
        ({"event": "purchased", "customer": {"external_id": " "}, "data": {"amount": "ten", "currency": "euro"}},
         ["customer.external_id: is required (the customer's id in your own system)",
          'data.amount: "ten" is not a number (write it like 1234.50)',
          "data.currency: must be a three-letter currency code like EUR"]),
        ({"event": "purchased", "customer": {"external_id": "C-1"}},
         ["data.amount: is required for purchased (the order's value, e.g. 49.90)"]),
        ({"event": "x", "customer": {"external_id": "C-1", "emial": "a@b.c", "timezone": "CET+5"},
          "occured_at": "2026-03-02T09:00:00"},
         ['occured_at: is not a field we know (did you mean "occurred_at"?); known: event, customer, data, '
          "attributes, event_id, occurred_at",
          'customer.emial: is not a field we know (did you mean "email"?); known: external_id, name, display_name, '
          "email, phone, language, timezone, subscribed, attributes, telegram_chat_id",
          'customer.timezone: "CET+5" is not a time zone (use an IANA name like Europe/Berlin)']),
        ({"event": "x", "customer": {"external_id": "C-1"}, "occurred_at": "2026-03-02T09:00:00"},
         ["occurred_at: needs a UTC offset (Z or +01:00): without one the moment is ambiguous"]),
        ([{"event": "x", "customer": {"external_id": "C-1"}}, {"event": "x", "customer": {"email": "nope"}}],
         ["[1].customer.external_id: is required (the customer's id in your own system)",
          '[1].customer.email: "nope" is not an email address']),
    ],
)  # fmt: skip
async def test_bad_events_name_every_bad_field_and_nothing_is_recorded(
    core: Core, body: Any, errors: list[str]
) -> None:
    with pytest.raises(EventErrors) as raised:
        await send(core, body)
    assert [str(e) for e in raised.value.errors] == errors
    assert await count(core, Customer) == 0


async def test_the_same_event_sent_twice_at_once_is_recorded_once_for_one_new_customer(core: Core) -> None:
    body = {"event": "purchased", "event_id": "o-1", "customer": {"external_id": "C-1"}, "data": {"amount": 5}}
    other = {**body, "event_id": "o-2"}

    results = await asyncio.gather(send(core, body), send(core, body), send(core, other))

    assert sorted(r.duplicate for [r] in results) == [False, False, True]
    assert await count(core, Customer) == 1
    assert (await customer(core, "C-1")).attributes["lifetime_value"] == 10


def test_a_purchase_adds_to_totals_stored_as_text() -> None:
    # A flow's set_attribute or an import may have stored "1200": the purchase adds to it, never resets it.
    changed = events.effects(
        "purchased", {"amount": 50}, {"lifetime_value": "1200", "orders": "3"}, datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert (changed["lifetime_value"], changed["orders"]) == (1250, 4)
