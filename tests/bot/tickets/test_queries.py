"""The read side adapters use (TicketQueries): a ticket by reference or by its desk thread, lists with their SLA
state, one ticket's details with its timeline; and a staff notice this version does not know is skipped, not
retried."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot import outbox
from bot.config import Settings
from bot.core import Core
from bot.outbox.models import DONE, OutboxItem
from bot.tickets.kinds import TicketKind
from bot.tickets.models import Ticket, TicketStatus
from bot.tickets.views import Person, SlaState
from tests.bot.tickets.test_lifecycle import ROUTING, STAFF, RecordingDesk, complain, ticket
from tests.conftest import Chat, FixedClock, make_settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, staff=STAFF, routing=ROUTING,
                         slack={"channels": {"default": "C0SUPPORT"}})  # fmt: skip


@pytest.fixture
def desk(core: Core) -> RecordingDesk:
    recording = RecordingDesk()
    core.set_staff_desk(recording)
    return recording


async def test_a_ticket_by_reference_and_by_its_desk_thread(core: Core, chat: Chat) -> None:
    await complain(chat)
    queries = core.ticket_queries

    view = await queries.view(" c-1001 ")  # as staff type it
    assert view is not None and (view.ref, view.status) == ("C-1001", TicketStatus.ASSIGNED)
    assert view.assignee == Person(key="maria", name="Maria Santos", slack_user_id="U0EXAMPLE2")
    assert "My parcel never arrived" in view.recent_messages and view.desk_channel == "C0SUPPORT"
    assert await queries.view("C-9999") is None

    async with core.db.transaction() as session:  # as the desk records where it posted the ticket
        stored = await session.get(Ticket, view.id)
        assert stored is not None
        stored.desk_channel, stored.desk_thread = "C0SUPPORT", "1700000000.000001"
    assert await queries.ref_by_thread("C0SUPPORT", "1700000000.000001") == "C-1001"
    assert await queries.ref_by_thread("C0OTHER", "1700000000.000001") is None


async def test_lists_and_details_show_the_running_sla_clock(core: Core, chat: Chat, clock: FixedClock) -> None:
    await complain(chat)  # first response due in 8 hours
    queries = core.ticket_queries

    (line,) = await queries.lines(status="open")
    assert (line.ref, line.status, line.assignee, line.summary) == ("C-1001", "assigned", "Maria Santos",
                                                                    "My parcel never arrived")  # fmt: skip
    assert line.sla == SlaState(due=(await ticket(core)).first_response_due)
    assert await queries.lines(status="resolved") == [] and len(await queries.lines()) == 1
    assert [t.ref for t in (await queries.assigned_page("maria")).lines] == ["C-1001"]
    assert (await queries.assigned_page("maria", offset=1)).lines == []
    assert (await queries.assigned_page("maria", offset=1)).total == 1
    assert (await queries.assigned_page("tom")).total == 0 and (await queries.assigned_page("nobody")).lines == []

    clock.advance(hours=9)  # overdue counts as breached before the SLA watch has marked it
    assert (await queries.lines())[0].sla == SlaState(breached=True)
    assert (await core.tickets.reply("C-1001", "maria", "On its way.")).ok
    assert (await core.tickets.resolve("C-1001", "maria", "Delivered.")).ok

    details = await queries.details("C-1001")
    assert details is not None
    assert (details.first_response_met, details.resolution_met) == (False, True)  # answered late, solved in time
    assert details.sla == SlaState()  # finished: no clock runs
    assert [e.kind for e in details.timeline] == ["opened", "assigned", "staff_reply", "resolved"]
    assert details.timeline[-1].actor == "maria" and details.timeline[-1].at == clock.now()
    assert await queries.details("C-9999") is None


async def test_a_staff_notice_of_a_kind_this_version_does_not_know_is_skipped(
    core: Core, chat: Chat, desk: RecordingDesk
) -> None:
    await complain(chat)
    await core.dispatcher.drain()
    found = await ticket(core)
    key = f"staff:{found.id}:from-a-newer-version"
    async with core.db.transaction() as session:
        await outbox.enqueue(
            session,
            kind=TicketKind.STAFF_NOTICE,
            dedupe_key=key,
            due_at=core.clock.now(),
            customer_id=found.customer_id,
            payload={"ticket_id": found.id, "kind": "escalated", "text": "", "actor": "", "data": {}},
        )
    await core.dispatcher.drain()

    assert desk.kinds() == ["opened"]
    async with core.db.sessions() as session:
        row = (await session.execute(select(OutboxItem).where(OutboxItem.dedupe_key == key))).scalar_one()
        assert row.status == DONE
