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
from bot.customers.amounts import LIMITS
from bot.customers.events import Conflict, EventConflict, EventErrors, Recorded
from bot.customers.models import ChannelIdentity, Customer, CustomerEvent
from bot.messages import ChannelRef, Reply
from bot.outbox.models import OutboxItem
from tests.conftest import Chat


async def send(core: Core, body: Any) -> list[Recorded]:
    parsed = events.parse_body(body, core.settings.business.default_region)
    async with core.db.transaction() as session:
        return [await events.record(session, core.settings.tiers, e, core.clock.now()) for e in parsed]


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

        ({"event": "purchased", "customer": {"external_id": "C-1"}, "data": {"amount": "1e400", "qty": float("nan")}},
         [f'data.amount: "1e400" is out of range: {LIMITS}',
          'data.qty: "nan" cannot be stored: numbers must be finite, and integers at most 40 digits long']),
        ({"event": "x", "customer": {"external_id": "C-1", "attributes": {"lifetime_value": "1e100000"}},
          "attributes": {"orders": "many", "score": 1e15, "ok": [1.5, {"deep": -1e300}]}},
         [f'customer.attributes.lifetime_value: "1e100000" is out of range: {LIMITS}',
          'attributes.orders: "many" is not a number (write it like 1234.50)',
          'attributes.score: "1000000000000000.0" ' + events.ATTRIBUTE_NUMBERS,
          'attributes.ok[1].deep: "-1e+300" ' + events.ATTRIBUTE_NUMBERS]),
        ([{"event": "x", "customer": {"external_id": "C-1"}},
          {"event": "x", "event_id": "e\x00", "customer": {"external_id": "C\ud800", "name": "Ana", "email": "nope"},
           "data": {"items": [{"sku": "\x00"}]}}],
         ["[1].event_id: contains a NUL character (\\u0000), which cannot be stored",
          "[1].customer.external_id: contains a lone surrogate (\\ud800), which is not Unicode text",
          "[1].data.items[0].sku: contains a NUL character (\\u0000), which cannot be stored"]),
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


def purchase(external_id: str, amount: Any, event_id: str | None = None) -> dict[str, Any]:
    body = {"event": "purchased", "customer": {"external_id": external_id}, "data": {"amount": amount}}
    return body if event_id is None else {**body, "event_id": event_id}


async def test_an_event_id_names_one_event_of_one_customer(core: Core) -> None:
    [first] = await send(core, purchase("C-1", 10, "order-1"))
    [again] = await send(core, purchase("C-1", 10, "order-1"))
    [reused] = await send(core, purchase("C-2", 10, "order-1"))

    assert isinstance(first, Recorded) and isinstance(again, Recorded) and again.duplicate
    assert isinstance(reused, Conflict)
    assert str(reused.error) == ('event_id: "order-1" is already the id of an event of another customer '
                                 '(external_id "C-1"); send this event with an id of its own')  # fmt: skip
    assert await count(core, Customer) == 1  # C-2 was not created for it
    assert (await customer(core, "C-1")).attributes["lifetime_value"] == 10


async def test_in_a_batch_a_reused_event_id_is_reported_and_the_others_are_recorded(core: Core) -> None:
    await send(core, purchase("C-1", 10, "order-1"))
    batch = [purchase("C-2", 5, "order-2"), purchase("C-3", 5, "order-1"), purchase("C-2", 5, "order-3")]
    parsed = events.parse_body(batch, core.settings.business.default_region)
    async with core.db.transaction() as session:
        results = await events.record_all(session, core.settings.tiers, parsed, core.clock.now(), indexed=True)

    assert [type(r).__name__ for r in results] == ["Recorded", "Conflict", "Recorded"]
    assert (await customer(core, "C-2")).attributes["lifetime_value"] == 10
    assert await count(core, Customer) == 2  # no C-3


async def test_a_purchase_that_would_take_a_total_past_the_limit_is_refused(core: Core) -> None:
    await send(core, purchase("C-1", "999999999999999"))
    with pytest.raises(EventErrors, match=r'data\.amount: "1" would make the total 1000000000000000, and totals'):
        await send(core, purchase("C-1", 1))
    assert (await customer(core, "C-1")).attributes["lifetime_value"] == 999999999999999
    assert await count(core, CustomerEvent) == 1


@pytest.mark.parametrize("stored", [10**400, "1e100000", "NaN", {"oops": [1]}, True],
                         ids=["huge", "text", "nan", "object", "true"])  # fmt: skip
async def test_a_stored_total_that_is_no_usable_number_counts_from_0_and_says_so_once(
    core: Core, caplog: pytest.LogCaptureFixture, stored: Any
) -> None:
    await send(core, {"event": "signed_up", "customer": {"external_id": "C-1"}})
    async with core.db.transaction() as session:  # as an older version, or a hand edit, left it
        found = (await session.execute(select(Customer).where(Customer.external_id == "C-1"))).scalar_one()
        found.attributes = {"lifetime_value": stored, "orders": stored, "plan": "pro\x00", "note\ud800": "x"}

    [done] = await send(core, purchase("C-1", "10.50"))
    [other] = await send(core, purchase("C-2", 3))

    assert isinstance(done, Recorded) and isinstance(other, Recorded)
    attributes = (await customer(core, "C-1")).attributes
    assert (attributes["lifetime_value"], attributes["orders"], attributes["plan"]) == (10.5, 1, "pro")
    assert "note\ufffd" in attributes  # cleaned when read, and written back clean
    warnings = [r.getMessage() for r in caplog.records if "usable number" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("customer #1: the stored lifetime_value "), warnings
    assert warnings[0].endswith(" are not usable numbers; this purchase counts from 0"), warnings
    assert (await customer(core, "C-2")).attributes["lifetime_value"] == 3
