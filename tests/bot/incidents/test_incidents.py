"""Incidents through the real engine and dispatcher: the notice reaches only the affected customers, once (two
dispatcher instances on PostgreSQL), waits for quiet hours unless critical, never reaches the opted out; updates and
the resolution reach the same audience; a complaint from an affected customer hears the incident's status first and
its ticket is linked; `show` reports who was affected and told, the complaints and their CSAT."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.customers.models import ChannelIdentity, Customer, CustomerEvent
from bot.incidents.actions import IncidentError, parse_audience
from bot.incidents.notices import IncidentKind
from bot.messages import ChannelRef, Reply
from bot.outbox import Claimed
from bot.outbox.models import OutboxItem
from bot.tickets.models import Ticket
from bot.transcript import Message
from tests.conftest import STARTER_FLOWS, Chat, FixedClock, make_settings

LEEDS = {"event": {"name": "order_shipped", "since": "2026-02-27", "until": "2026-03-01",
                   "where": "event.data.warehouse == 'LDS'"}}  # fmt: skip
STAFF = [{"key": "maria", "name": "Maria Santos", "categories": ["delivery"]}]


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    target.mkdir()
    for name in ("complaint.yaml", "ticket_followup.yaml"):
        shutil.copy(STARTER_FLOWS / name, target / name)
    return target


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, staff=STAFF, routing={"fallback": "maria"})


@dataclass
class Inbox:
    """The web Channel port: what the dispatcher sends, per customer address."""

    name: str = "web"
    sent: dict[str, list[str]] = field(default_factory=dict)

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        await asyncio.sleep(0)  # let the other instance's workers interleave
        self.sent.setdefault(ref.address, []).extend(r.text for r in replies)


@pytest.fixture
def inbox(core: Core) -> Inbox:
    channel = Inbox()
    core.add_channel(channel)
    return channel


async def shipped(core: Core, address: str, warehouse: str, day: date) -> int:
    """A customer who wrote to the bot once, with an order shipped from `warehouse` that day."""
    await Chat(core, address=address, name=address.title()).say("hello")
    async with core.db.transaction() as session:
        customer_id = (await session.execute(select(ChannelIdentity.customer_id).where(
            ChannelIdentity.address == address))).scalar_one()  # fmt: skip
        moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
        session.add(CustomerEvent(customer_id=customer_id, name="order_shipped", data={"warehouse": warehouse},
                                  occurred_at=moment, received_at=moment))  # fmt: skip
    return customer_id


async def open_leeds(core: Core, severity: str = "normal") -> int:
    posted = await core.incidents.open(
        title="Late deliveries from Leeds", what_happened="A storm closed our Leeds warehouse.",
        what_we_do="Orders are moving to Manchester.", audience=parse_audience(LEEDS), severity=severity,
        next_update_at=core.clock.now() + timedelta(hours=4), by="ops",
    )  # fmt: skip
    return posted.incident.id


async def test_the_notice_reaches_only_the_affected_customers_once(core: Core, inbox: Inbox) -> None:
    ana = await shipped(core, "ana", "LDS", date(2026, 2, 28))
    await shipped(core, "rui", "MAN", date(2026, 2, 28))  # another warehouse
    await shipped(core, "eva", "LDS", date(2026, 2, 20))  # before the window
    inbox.sent.clear()
    incident_id = await open_leeds(core)
    await core.dispatcher.drain()
    assert list(inbox.sent) == ["ana"]
    (notice,) = inbox.sent["ana"]
    assert notice.startswith(
        "⚠️ Late deliveries from Leeds\nA storm closed our Leeds warehouse.\n"
        "What we are doing: Orders are moving to Manchester.\nNext update: Mon 02 Mar 13:00"
    )
    await core.dispatcher.drain()  # nothing twice
    assert len(inbox.sent["ana"]) == 1

    report = await core.incidents.show(incident_id)
    assert (report.line.affected, report.line.notified) == (1, 1)
    assert [c["customer_id"] for c in report.customers] == [ana]

    # An update and the resolution go to the same customers.
    await core.incidents.update(incident_id, "Half of the orders are on their way.", by="ops")
    await core.incidents.resolve(incident_id, "Every order has been delivered.", by="ops")
    await core.dispatcher.drain()
    assert inbox.sent["ana"][1:] == [
        "Update on Late deliveries from Leeds: Half of the orders are on their way.",
        "✅ Resolved: Late deliveries from Leeds. Every order has been delivered.",
    ]
    assert list(inbox.sent) == ["ana"]
    with pytest.raises(IncidentError, match="already resolved"):
        await core.incidents.update(incident_id, "again")


async def test_notices_wait_for_quiet_hours_unless_critical_and_skip_the_opted_out(
    core: Core, inbox: Inbox, clock: FixedClock
) -> None:
    await shipped(core, "ana", "LDS", date(2026, 2, 28))
    rui = await shipped(core, "rui", "LDS", date(2026, 3, 1))
    async with core.db.transaction() as session:
        (await session.get(Customer, rui)).subscribed = False  # type: ignore[union-attr]
    inbox.sent.clear()
    clock.current = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # quiet hours (21:00-09:00, business time UTC)
    normal = await open_leeds(core)
    await core.dispatcher.drain()
    assert inbox.sent == {}
    clock.current = datetime(2026, 3, 3, 9, 0, 1, tzinfo=UTC)
    await core.dispatcher.drain()
    assert [m.split("\n")[0] for m in inbox.sent["ana"]] == ["⚠️ Late deliveries from Leeds"]
    report = await core.incidents.show(normal)
    assert (report.line.affected, report.line.notified, report.not_notified) == (2, 1, {"opted out": 1})

    inbox.sent.clear()
    clock.current = datetime(2026, 3, 3, 23, 0, tzinfo=UTC)
    await open_leeds(core, severity="critical")
    await core.dispatcher.drain()
    assert list(inbox.sent) == ["ana"]  # at once, in the night; still never to the opted out


async def complain(chat: Chat, words: str) -> list[str]:
    """The starter complaint flow to its end; what the bot says last."""
    await chat.say("/complain")
    await chat.say(words)
    await chat.press("Order & delivery")
    await chat.press("Skip")
    return [r.text for r in await chat.send(choice=chat.last[-1].buttons[0].value)]


async def test_a_complaint_from_an_affected_customer_hears_the_status_first_and_is_linked(core: Core) -> None:
    await shipped(core, "ana", "LDS", date(2026, 2, 28))
    await shipped(core, "rui", "MAN", date(2026, 2, 28))
    incident_id = await open_leeds(core)

    logged = await complain(Chat(core, address="ana", name="Ana"), "My order is late")
    status = next(i for i, t in enumerate(logged) if t.startswith("We know about this: Late deliveries from Leeds"))
    reference = next(i for i, t in enumerate(logged) if "Your reference is C-1001" in t)
    assert status < reference
    assert "Orders are moving to Manchester." in logged[status] and "linked to it" in logged[status]

    said = await complain(Chat(core, address="rui", name="Rui"), "Wrong size")
    assert not any("We know about this" in t for t in said)

    async with core.db.sessions() as session:
        tickets = {t.ref: t for t in (await session.execute(select(Ticket))).scalars()}
    assert tickets["C-1001"].incident_id == incident_id and tickets["C-1001"].incident_label == (
        f"#{incident_id} Late deliveries from Leeds"
    )
    assert tickets["C-1002"].incident_id is None
    async with core.db.transaction() as session:
        tickets_ = (await session.execute(select(Ticket).where(Ticket.ref == "C-1001"))).scalar_one()
        tickets_.csat_score = 4
    report = await core.incidents.show(incident_id)
    assert [(c.ref, c.csat) for c in report.complaints] == [("C-1001", 4)]
    assert (report.csat_average, report.csat_responses) == (4, 1)


async def test_a_customer_who_matches_after_the_opening_is_affected_by_the_next_update(
    core: Core, inbox: Inbox
) -> None:
    await shipped(core, "ana", "LDS", date(2026, 2, 28))
    incident_id = await open_leeds(core)
    await shipped(core, "eva", "LDS", date(2026, 3, 1))  # the CRM sent her shipment late
    posted = await core.incidents.update(incident_id, "Still closed.")
    assert (posted.affected, posted.newly_affected) == (2, 1)
    await core.dispatcher.drain()
    assert [m.split(":")[0] for m in inbox.sent["eva"] if m.startswith("Update")] == [
        "Update on Late deliveries from Leeds"
    ]


@pytest.mark.parametrize(
    ("audience", "problem"),
    [({}, "say who is affected"), ({"when": "customer.tier =="}, "condition error"),
     ({"event": {"name": "x", "since": "yesterday"}}, "event.since"), ({"tierz": ["a"]}, "tierz")],
)  # fmt: skip
def test_a_bad_audience_is_refused_with_why(audience: dict[str, Any], problem: str) -> None:
    with pytest.raises(IncidentError, match=problem):
        parse_audience(audience)


# ---- two instances (PostgreSQL) -----------------------------------------------------------------


@pytest.fixture
async def second(settings: Settings, clock: FixedClock, core: Core) -> AsyncIterator[tuple[Core, Inbox]]:
    other = Core(settings, clock=clock)
    channel = Inbox()
    other.add_channel(channel)
    try:
        yield other, channel
    finally:
        await other.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_dispatcher_instances_send_each_notice_once(
    core: Core, inbox: Inbox, second: tuple[Core, Inbox]
) -> None:
    other, other_inbox = second
    people = [f"c{i}" for i in range(12)]
    for name in people:
        await shipped(core, name, "LDS" if name != "c0" else "MAN", date(2026, 2, 28))
    inbox.sent.clear()
    await open_leeds(core)
    await asyncio.gather(core.dispatcher.drain(), other.dispatcher.drain(), core.dispatcher.drain())
    got: dict[str, list[str]] = {}
    for box in (inbox, other_inbox):
        for address, messages in box.sent.items():
            got.setdefault(address, []).extend(messages)
    assert sorted(got) == sorted(people[1:])
    assert all(len(messages) == 1 for messages in got.values())


async def test_staff_are_alerted_once_when_a_promised_update_is_late(core: Core, clock: FixedClock) -> None:
    posted: list[str] = []
    channels: set[str] = set()

    class Desk:
        async def post_alert(self, channel: str, text: str) -> None:
            posted.append(text)
            channels.add(channel)

    core.staff_alerts.desk = Desk()
    await shipped(core, "ana", "LDS", date(2026, 2, 28))
    incident_id = await open_leeds(core)  # next update promised in 4 hours
    assert await core.incidents.remind_overdue() == 0
    clock.advance(hours=4, minutes=1)
    assert await core.incidents.remind_overdue() == 1
    assert await core.incidents.remind_overdue() == 0  # once per promised moment
    await core.dispatcher.drain()
    assert posted == [
        f"Incident #{incident_id} (Late deliveries from Leeds): the next update was promised to customers for "
        "Mon 02 Mar 13:00. Post one with `engagebot incidents update 1` or in the console."
    ]
    assert channels == {core.settings.rewards.alert_channel} == {"#staff"}  # the channel of every staff alert
    await core.incidents.update(incident_id, "Still closed.", next_update_at=clock.now() + timedelta(hours=2))
    clock.advance(hours=3)
    assert await core.incidents.remind_overdue() == 1  # the new promise is late too


async def test_a_notice_carried_out_twice_is_sent_and_counted_once(core: Core, clock: FixedClock) -> None:
    """A worker that died after carrying a notice out but before marking its row done: the next one adds nothing."""
    await shipped(core, "ana", "LDS", date(2026, 2, 28))
    incident_id = await open_leeds(core)
    async with core.db.sessions() as session:
        row = (await session.execute(select(OutboxItem).where(OutboxItem.kind == IncidentKind.NOTICE))).scalar_one()
    claimed = Claimed(row.id, row.kind, dict(row.payload), row.customer_id, 1, False, None, clock.now())
    assert await core.incident_notices.carry_out(claimed) and await core.incident_notices.carry_out(claimed)
    async with core.db.sessions() as session:
        queued = select(OutboxItem).where(OutboxItem.kind == "send", OutboxItem.dedupe_key.like("incident-send:%"))
        sends = (await session.execute(queued)).all()
        said = (await session.execute(select(Message).where(Message.text.like("⚠️%")))).all()
    assert len(sends) == 1 and len(said) == 1
    assert (await core.incidents.show(incident_id)).customers[0]["notified"] == 1
