"""Campaigns from planning to the customer's chat, through the dispatcher and its delivery policy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import outbox
from bot.config import Settings
from bot.core import Core
from bot.customers import records as customers
from bot.messages import ChannelRef, Reply
from bot.outbox.models import OutboxItem
from bot.outreach.campaigns import catalog, planning
from bot.transcript import Message
from tests.conftest import Chat, FixedClock, make_settings

CAMPAIGNS = {
    "thanks": {"kind": "thank_you", "message": "Thank you, {{ customer.first_name }}!",
               "buttons": [{"label": "Tips & tricks", "flow": "value_tips"}]},
    "tips": {"kind": "tip", "flow": "value_tips", "expire_after_hours": 12},
}  # fmt: skip


@dataclass
class WebInbox:
    name: str = "web"
    sent: list[tuple[str, Reply]] = field(default_factory=list)

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        self.sent += [(ref.address, reply) for reply in replies]

    def texts_to(self, address: str) -> list[str]:
        return [reply.text for to, reply in self.sent if to == address]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, campaigns=CAMPAIGNS)


@pytest.fixture
async def inbox(core: Core) -> AsyncIterator[WebInbox]:
    channel = WebInbox()
    core.add_channel(channel)
    yield channel


async def a_customer(core: Core, clock: FixedClock, address: str, name: str, timezone: str | None = None) -> int:
    chat = Chat(core, address=address, name=name)
    await chat.say("hi")
    await chat.say("cancel")  # no onboarding questions pending
    async with core.db.transaction() as session:
        customer = await customers.find_by_identity(session, ChannelRef("web", address))
        assert customer is not None
        customer.timezone = timezone
        customer_id = customer.id
    return customer_id


async def send(core: Core, name: str, occurrence: str = "manual@test") -> int:
    now = core.clock.now()
    result = await planning.plan(core.db, core.settings, name, occurrence, due_at=now, now=now)
    core.clock.advance(seconds=5)  # type: ignore[attr-defined]  # the messages are due at the proactive rate
    await core.dispatcher.drain()
    return result.run_id


async def test_a_message_campaign_reaches_each_customer_once_personalised_and_in_the_transcript(
    core: Core, clock: FixedClock, inbox: WebInbox
) -> None:
    await a_customer(core, clock, "ana", "Ana Lima")
    await a_customer(core, clock, "ben", "Ben Okafor")
    clock.advance(hours=1)
    run_id = await send(core, "thanks")
    await send(core, "thanks")  # sending the same occurrence again adds nothing

    assert inbox.texts_to("ana")[-1] == "Thank you, Ana!" and inbox.texts_to("ben")[-1] == "Thank you, Ben!"
    assert sum(reply.text.startswith("Thank you,") for _, reply in inbox.sent) == 2
    (_, reply) = next((to, r) for to, r in inbox.sent if r.text == "Thank you, Ana!")
    assert [(b.label, b.value) for b in reply.buttons] == [("Tips & tricks", "f:value_tips")]
    async with core.db.sessions() as session:
        transcript = list((await session.execute(select(Message.text).where(Message.direction == "out"))).scalars())
    assert "Thank you, Ana!" in transcript  # the web chat shows it too
    progress = await catalog.progress(core.db, run_id)
    assert progress.decisions == {("sent", "allowed"): 2}

    # The customer presses the campaign's button: the tips flow starts.
    chat = Chat(core, address="ana", last=[reply])
    assert "Tip of the week" in await chat.press("Tips & tricks")


async def test_a_flow_campaign_starts_its_flow_for_each_customer(
    core: Core, clock: FixedClock, inbox: WebInbox
) -> None:
    await a_customer(core, clock, "ana", "Ana Lima")
    clock.advance(hours=1)
    await send(core, "tips")
    await core.dispatcher.drain()  # the flow's replies are a send row of their own
    texts = inbox.texts_to("ana")
    assert any("Tip of the week" in text for text in texts) and "Was this useful?" in texts


async def test_a_campaign_disabled_after_planning_is_not_sent(
    core: Core, clock: FixedClock, inbox: WebInbox, tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    await a_customer(core, clock, "ana", "Ana Lima")
    clock.advance(hours=1)
    now = clock.now()
    result = await planning.plan(core.db, core.settings, "thanks", "manual@test", due_at=now, now=now)

    disabled = {**CAMPAIGNS, "thanks": {**CAMPAIGNS["thanks"], "enabled": False}}
    (tmp_path / "second").mkdir()
    edited = make_settings(tmp_path / "second", database_url, flows_dir, campaigns=disabled)
    restarted = Core(edited, clock=clock, channels={"web": inbox})
    await restarted.prepare()
    try:
        await restarted.dispatcher.drain()
    finally:
        await restarted.close()
    assert inbox.texts_to("ana")[-1:] != ["Thank you, Ana!"]
    progress = await catalog.progress(core.db, result.run_id)
    assert progress.decisions == {("skipped", "campaign 'thanks' is disabled"): 1}


async def test_a_campaign_planned_with_newer_settings_waits_for_an_instance_that_knows_it(
    core: Core, clock: FixedClock, inbox: WebInbox, tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    # `campaigns send` ran with a config.yaml that has a new campaign; a server started before still runs without it.
    await a_customer(core, clock, "ana", "Ana Lima")
    clock.advance(hours=1)
    now = clock.now()
    result = await planning.plan(core.db, core.settings, "thanks", "manual@test", due_at=now, now=now)
    (tmp_path / "stale").mkdir()
    stale = Core(make_settings(tmp_path / "stale", database_url, flows_dir, campaigns={"tips": CAMPAIGNS["tips"]}),
                 clock=clock, channels={"web": inbox})  # fmt: skip
    await stale.prepare()
    try:
        await stale.dispatcher.drain()
        clock.advance(minutes=30)
        await stale.dispatcher.drain()
    finally:
        await stale.close()
    assert "Thank you, Ana!" not in inbox.texts_to("ana")
    assert (await catalog.progress(core.db, result.run_id)).decisions == {}  # waiting, nothing decided

    # An instance with the new settings sends it: nothing was used up.
    clock.advance(minutes=10)
    await core.dispatcher.drain()
    assert inbox.texts_to("ana")[-1] == "Thank you, Ana!"
    assert (await catalog.progress(core.db, result.run_id)).decisions == {("sent", "allowed"): 1}


async def test_a_campaign_removed_from_the_settings_is_skipped_once_its_messages_would_have_expired(
    core: Core, clock: FixedClock, inbox: WebInbox, tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    await a_customer(core, clock, "ana", "Ana Lima")
    clock.advance(hours=1)
    now = clock.now()
    result = await planning.plan(core.db, core.settings, "thanks", "manual@test", due_at=now, now=now)
    (tmp_path / "removed").mkdir()
    removed = Core(make_settings(tmp_path / "removed", database_url, flows_dir, campaigns={"tips": CAMPAIGNS["tips"]}),
                   clock=clock, channels={"web": inbox})  # fmt: skip
    await removed.prepare()
    try:
        clock.advance(hours=core.settings.outreach.expire_after_hours + 1)
        await removed.dispatcher.drain()
    finally:
        await removed.close()
    assert "Thank you, Ana!" not in inbox.texts_to("ana")
    progress = await catalog.progress(core.db, result.run_id)
    assert progress.decisions == {("skipped", "campaign 'thanks' was retired or removed"): 1}


async def test_a_campaign_message_held_past_its_expiry_is_skipped_not_sent_late(
    core: Core, clock: FixedClock, inbox: WebInbox
) -> None:
    # Night in Tokyo until 09:00 local = 00:00 UTC; the tips campaign expires 12 h after it is due.
    await a_customer(core, clock, "early", "Kenji Sato", timezone="Asia/Tokyo")
    await a_customer(core, clock, "late", "Aiko Mori", timezone="Asia/Tokyo")
    clock.current = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)  # 22:00 in Tokyo: quiet until 00:00 UTC
    run_id = await send(core, "tips")
    progress = await catalog.progress(core.db, run_id)
    assert progress.decisions == {("held", "quiet hours (22:00 in Asia/Tokyo)"): 2}

    clock.current = datetime(2026, 6, 2, 0, 0, tzinfo=UTC)  # morning in Tokyo, 11 h after it was due
    await Chat(core, address="late").say("/nps")  # ... but one of them is busy with a survey
    await core.dispatcher.drain()
    await core.dispatcher.drain()
    assert any("Tip of the week" in text for text in inbox.texts_to("early"))
    clock.advance(hours=1, minutes=1)  # still busy-deferred, and now past the 12 h expiry
    await core.dispatcher.drain()
    assert not any("Tip of the week" in text for text in inbox.texts_to("late"))
    progress = await catalog.progress(core.db, run_id)
    assert progress.decisions[("skipped", "expired: held past its expiry")] == 1
    assert progress.outbox == {"done": 1, "cancelled": 1}


async def test_a_reply_queued_during_a_big_campaign_does_not_wait_behind_all_of_it(
    core: Core, clock: FixedClock, inbox: WebInbox
) -> None:
    for n in range(60):
        await a_customer(core, clock, f"c{n}", f"Customer {n}")
    clock.advance(hours=1)
    now = clock.now()
    await planning.plan(core.db, core.settings, "thanks", "manual@test", due_at=now, now=now)
    # The campaign's messages are due at the proactive rate (30/s x 0.8 = 24/s), not all at once ...
    async with core.db.sessions() as session:
        due = sorted((await session.execute(select(OutboxItem.due_at).where(OutboxItem.kind == "campaign"))).scalars())
    assert due[0] == now and due[-1] == now + timedelta(seconds=59 / 24)
    # ... so a staff reply queued a second later goes out before the messages due after it.
    clock.advance(seconds=1)
    async with core.db.transaction() as session:
        await outbox.enqueue_send(
            session, customer_id=1, ref=ChannelRef("web", "c0"), replies=[Reply("Maria: your refund is on its way")],
            dedupe_key="staff-reply", due_at=clock.now(),
        )  # fmt: skip
    await core.dispatcher.tick()
    texts = [reply.text for _, reply in inbox.sent]
    assert "Maria: your refund is on its way" in texts
    assert sum(text.startswith("Thank you,") for text in texts) <= 25
