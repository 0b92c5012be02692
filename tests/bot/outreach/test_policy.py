"""The delivery policy, as customers notice it: no messages at night in their own time zone (across DST),
no more than the cap, nothing after an opt-out, no interruption mid-conversation, every hold recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot import outbox
from bot.config import QuietHours, Settings
from bot.conversations.kinds import ConversationKind
from bot.core import Core
from bot.customers import records as customers
from bot.customers.models import Customer
from bot.messages import ChannelRef, Reply
from bot.outbox.models import CANCELLED, DONE, PENDING, OutboxItem
from bot.outreach.campaigns.kinds import CampaignKind
from bot.outreach.delivery.customer_facts import Facts
from bot.outreach.delivery.policy import judge, quiet_until
from bot.outreach.models import DeliveryDecision
from tests.conftest import Chat, FixedClock, make_settings

THANKS_FLOW = """\
version: 1
flow: thanks
title: Thank you
triggers:
  - command: /thanks
steps:
  - say: Thank you for being with us!
"""
NIGHT = QuietHours(start="21:00", end="09:00")
BERLIN, TOKYO, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")


# ---- quiet hours on the customer's wall clock ---------------------------------------------------


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        (at(BERLIN, 2026, 6, 1, 12, 0), None),  # midday: not quiet
        (at(BERLIN, 2026, 6, 1, 20, 59), None),
        (at(BERLIN, 2026, 6, 1, 21, 0), at(BERLIN, 2026, 6, 2, 9, 0)),  # evening: opens next morning
        (at(BERLIN, 2026, 6, 2, 3, 30), at(BERLIN, 2026, 6, 2, 9, 0)),  # after midnight: opens this morning
        (at(BERLIN, 2026, 6, 2, 9, 0), None),
    ],
)
def test_quiet_hours_span_midnight_on_the_local_clock(now: datetime, opens: datetime | None) -> None:
    assert quiet_until(now, BERLIN, NIGHT) == opens


def test_the_window_opens_at_nine_local_time_on_both_sides_of_a_dst_change() -> None:
    # Europe/Berlin springs forward on 2026-03-29 (02:00 -> 03:00) and falls back on 2026-10-25.
    spring = quiet_until(at(BERLIN, 2026, 3, 28, 22, 0), BERLIN, NIGHT)
    assert spring == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST (+02:00), not 08:00 UTC
    autumn = quiet_until(at(BERLIN, 2026, 10, 24, 22, 0), BERLIN, NIGHT)
    assert autumn == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 CET (+01:00)
    # The night before the change is an hour shorter or longer in UTC; the local opening is the same.
    assert spring.astimezone(BERLIN).hour == autumn.astimezone(BERLIN).hour == 9


def test_a_window_ending_inside_the_spring_forward_gap_opens_right_after_the_gap() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: the window opens when the clocks show 03:30.
    opens = quiet_until(at(BERLIN, 2026, 3, 29, 1, 0), BERLIN, QuietHours(start="22:00", end="02:30"))
    assert opens == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert opens.astimezone(BERLIN).strftime("%H:%M") == "03:30"


def test_a_daytime_window_that_does_not_span_midnight() -> None:
    lunch = QuietHours(start="12:00", end="14:00")
    assert quiet_until(at(NEW_YORK, 2026, 3, 8, 13, 0), NEW_YORK, lunch) == at(NEW_YORK, 2026, 3, 8, 14, 0)
    assert quiet_until(at(NEW_YORK, 2026, 3, 8, 14, 0), NEW_YORK, lunch) is None


# ---- the dispatcher applies it --------------------------------------------------------------------


@dataclass
class RecordingChannel:
    name: str = "web"
    sent: list[tuple[str, str]] = field(default_factory=list)
    on_send: object = None

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        self.sent += [(ref.address, reply.text) for reply in replies]
        if callable(self.on_send):
            await self.on_send(ref)  # type: ignore[misc]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    (flows_dir / "thanks.yaml").write_text(THANKS_FLOW, encoding="utf-8")
    return make_settings(
        tmp_path, database_url, flows_dir,
        outreach={"frequency_cap": {"max_messages": 2, "window_days": 7}, "concurrency": 1},
        business={"timezone": "UTC"},
        campaigns={"thanks": {"kind": "thank_you", "message": "Thank you for being with us!"}},
    )  # fmt: skip


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))  # noon UTC: daytime in Europe


async def customer(core: Core, clock: FixedClock, address: str, timezone: str | None = None) -> int:
    """A customer who wrote once (and declined the welcome questions), then went quiet for an hour."""
    chat = Chat(core, address=address)
    await chat.say("hi")
    await chat.say("cancel")
    async with core.db.transaction() as session:
        row = await customers.find_by_identity(session, ChannelRef("web", address))
        assert row is not None
        row.timezone = timezone
        customer_id = row.id
    clock.advance(hours=1)
    return customer_id


async def propose(core: Core, customer_id: int, key: str, kind: str = ConversationKind.START_FLOW) -> None:
    """A proactive row: the `thanks` flow, or the `thanks` message campaign."""
    payload = {"campaign": "thanks"} if kind == CampaignKind.CAMPAIGN else {"flow_id": "thanks"}
    async with core.db.transaction() as session:
        await outbox.enqueue(
            session, kind=kind, dedupe_key=key, due_at=core.clock.now(), customer_id=customer_id,
            payload=payload, proactive=True,
        )  # fmt: skip


async def decisions(core: Core, customer_id: int) -> list[tuple[str, str]]:
    async with core.db.sessions() as session:
        query = (
            select(DeliveryDecision.decision, DeliveryDecision.reason)
            .where(DeliveryDecision.customer_id == customer_id)
            .order_by(DeliveryDecision.id)
        )
        return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]


async def rows(core: Core, customer_id: int) -> list[OutboxItem]:
    async with core.db.sessions() as session:
        query = (
            select(OutboxItem)
            .where(
                OutboxItem.customer_id == customer_id,
                OutboxItem.kind.in_((ConversationKind.START_FLOW, CampaignKind.CAMPAIGN)),
            )
            .order_by(OutboxItem.id)
        )
        return list((await session.execute(query)).scalars())


def thanks_to(channel: RecordingChannel, address: str) -> int:
    return sum(1 for to, text in channel.sent if to == address and text.startswith("Thank you for being"))


async def test_a_message_due_at_night_in_the_customers_zone_waits_for_their_morning(
    core: Core, clock: FixedClock
) -> None:
    channel = RecordingChannel()
    core.add_channel(channel)
    tokyo = await customer(core, clock, "tokyo", "Asia/Tokyo")  # then 14:00 UTC: 23:00 in Tokyo
    berlin = await customer(core, clock, "berlin", "Europe/Berlin")  # ... and 16:00 in Berlin
    await propose(core, tokyo, "tokyo-1")
    await propose(core, berlin, "berlin-1")

    await core.dispatcher.drain()
    assert thanks_to(channel, "berlin") == 1 and thanks_to(channel, "tokyo") == 0
    (held,) = await rows(core, tokyo)
    assert held.status == PENDING and held.due_at == at(TOKYO, 2026, 6, 2, 9, 0)
    assert await decisions(core, tokyo) == [("held", "quiet hours (23:00 in Asia/Tokyo)")]

    clock.current = held.due_at - timedelta(minutes=1)
    await core.dispatcher.drain()
    assert thanks_to(channel, "tokyo") == 0
    clock.current = held.due_at
    await core.dispatcher.drain()
    assert thanks_to(channel, "tokyo") == 1
    assert (await decisions(core, tokyo))[-1] == ("sent", "allowed")


async def test_a_customer_without_a_time_zone_gets_the_business_hours(core: Core, clock: FixedClock) -> None:
    channel = RecordingChannel()
    core.add_channel(channel)
    unknown = await customer(core, clock, "somewhere")
    clock.current = datetime(2026, 6, 1, 23, 0, tzinfo=UTC)  # business.timezone is UTC: night
    await propose(core, unknown, "x-1")
    await core.dispatcher.drain()
    assert thanks_to(channel, "somewhere") == 0
    assert await decisions(core, unknown) == [("held", "quiet hours (23:00 in UTC)")]


async def test_the_frequency_cap_holds_the_third_message_until_the_first_leaves_the_window(
    core: Core, clock: FixedClock
) -> None:
    channel = RecordingChannel()
    core.add_channel(channel)
    ana = await customer(core, clock, "ana")
    first_sent = clock.now()
    for n in range(3):
        await propose(core, ana, f"cap-{n}")
        await core.dispatcher.drain()
        clock.advance(hours=1)
    assert thanks_to(channel, "ana") == 2
    third = (await rows(core, ana))[2]
    assert third.status == PENDING and third.due_at == first_sent + timedelta(days=7)
    assert (await decisions(core, ana))[-1] == ("held", "frequency cap (2 in 7 days)")

    # Replies to the customer are transactional: the cap never holds them.
    assert "How can I help?" in await Chat(core, address="ana").say("menu")
    clock.current = third.due_at
    await core.dispatcher.drain()
    assert thanks_to(channel, "ana") == 3


async def test_opt_out_arriving_mid_send_is_honoured_for_rows_already_claimed(core: Core, clock: FixedClock) -> None:
    ids = [await customer(core, clock, f"c{n}") for n in range(3)]

    async def c2_opts_out_while_c1_is_sent(ref: ChannelRef) -> None:
        if ref.address == "c0":
            chat = Chat(core, address="c1")
            await chat.say("stop")
            await chat.press("Yes")

    channel = RecordingChannel(on_send=c2_opts_out_while_c1_is_sent)
    core.add_channel(channel)
    for customer_id in ids:
        await propose(core, customer_id, f"campaign-{customer_id}", kind=CampaignKind.CAMPAIGN)

    # One batch claims all three rows; the opt-out lands while the first message is being sent.
    await core.dispatcher.drain()
    assert thanks_to(channel, "c0") == 1 and thanks_to(channel, "c1") == 0 and thanks_to(channel, "c2") == 1
    (row,) = await rows(core, ids[1])
    assert row.status == CANCELLED
    # The opt-out itself cancelled the claimed row, so the dispatcher found it no longer its own.
    assert row.last_error == "customer opted out"


async def test_a_customer_mid_conversation_is_not_interrupted_but_gets_it_afterwards(
    core: Core, clock: FixedClock
) -> None:
    channel = RecordingChannel()
    core.add_channel(channel)
    ana = await customer(core, clock, "ana")
    chat = Chat(core, address="ana")
    await chat.say("/nps")  # a survey in progress
    await propose(core, ana, "tip-1")
    await core.dispatcher.drain()
    assert thanks_to(channel, "ana") == 0
    (row,) = await rows(core, ana)
    assert row.status == PENDING and row.due_at == clock.now() + timedelta(minutes=15)
    assert await decisions(core, ana) == [("deferred", "customer mid-conversation")]

    await chat.press("9")
    clock.advance(minutes=15)
    await core.dispatcher.drain()  # they just answered: still chatting
    assert thanks_to(channel, "ana") == 0
    clock.advance(minutes=31)
    await core.dispatcher.drain()
    assert thanks_to(channel, "ana") == 1


async def test_unreachable_customers_and_customers_without_a_chat_are_skipped_with_reasons(
    core: Core, clock: FixedClock
) -> None:
    channel = RecordingChannel()
    core.add_channel(channel)
    blocked = await customer(core, clock, "blocked")
    async with core.db.transaction() as session:
        await session.execute(update(Customer).where(Customer.id == blocked).values(unreachable=True))
        imported = Customer(external_id="crm-7", display_name="Imported", attributes={}, tags=[])
        session.add(imported)
        await session.flush()
        imported_id = imported.id
    await propose(core, blocked, "b-1")
    await propose(core, imported_id, "i-1")
    await core.dispatcher.drain()
    assert channel.sent == []
    assert await decisions(core, blocked) == [("skipped", "unreachable (the channel refused the last message)")]
    assert await decisions(core, imported_id) == [("skipped", "no chat identity (never wrote to the bot)")]
    assert [r.status for r in await rows(core, blocked) + await rows(core, imported_id)] == [CANCELLED, CANCELLED]


async def test_transactional_messages_pass_at_night_and_over_the_cap(core: Core, clock: FixedClock) -> None:
    channel = RecordingChannel()
    core.add_channel(channel)
    ana = await customer(core, clock, "ana", "Asia/Tokyo")
    async with core.db.transaction() as session:
        await outbox.enqueue_send(
            session, customer_id=ana, ref=ChannelRef("web", "ana"), replies=[Reply("Your ticket C-1001 is resolved")],
            dedupe_key="ticket-update", due_at=clock.now(),
        )  # fmt: skip
    await core.dispatcher.drain()
    assert ("ana", "Your ticket C-1001 is resolved") in channel.sent
    assert await decisions(core, ana) == []
    async with core.db.sessions() as session:
        row = (await session.execute(select(OutboxItem).where(OutboxItem.dedupe_key == "ticket-update"))).scalar_one()
    assert row.status == DONE


# ---- the verdict itself: no I/O, the facts of many customers are read at once --------------------


def _customer(**fields: object) -> Customer:
    return Customer(**{"subscribed": True, "unreachable": False, "timezone": None, **fields})


NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FACTS = Facts(ref=ChannelRef("web", "ana"), busy=False, cap_oldest=None, first_unsent_send=None)


@pytest.mark.parametrize(
    ("customer", "facts", "kind", "expected"),
    [
        (_customer(), FACTS, CampaignKind.CAMPAIGN, ("sent", "allowed")),
        (None, None, CampaignKind.CAMPAIGN, ("skipped", "customer no longer exists")),
        (_customer(subscribed=False), replace(FACTS, busy=True), CampaignKind.CAMPAIGN, ("skipped", "opted out")),
        (_customer(), replace(FACTS, ref=None), CampaignKind.CAMPAIGN,
         ("skipped", "no chat identity (never wrote to the bot)")),
        (_customer(timezone="Asia/Tokyo"), FACTS, CampaignKind.CAMPAIGN, ("held", "quiet hours (21:00 in Asia/Tokyo)")),
        (_customer(), replace(FACTS, busy=True), CampaignKind.CAMPAIGN, ("deferred", "customer mid-conversation")),
        (_customer(), replace(FACTS, cap_oldest=NOON - timedelta(days=1)), CampaignKind.CAMPAIGN,
         ("held", "frequency cap (2 in 7 days)")),
        # Check-ins and their reminders count toward the cap but are paced by their flow, never held by it.
        (_customer(), replace(FACTS, cap_oldest=NOON - timedelta(days=1)), ConversationKind.REMIND_RUN,
         ("sent", "allowed")),
    ],
)  # fmt: skip
def test_the_verdict_asks_in_a_persons_order(
    settings: Settings, customer: Customer | None, facts: Facts | None, kind: str, expected: tuple[str, str]
) -> None:
    night = settings.model_copy(
        update={"outreach": settings.outreach.model_copy(update={"quiet_hours": NIGHT})}
    )  # fmt: skip
    verdict = judge(night.outreach, night.business.zone, kind=kind, customer=customer, facts=facts, now=NOON)
    assert (verdict.decision, verdict.reason) == expected
