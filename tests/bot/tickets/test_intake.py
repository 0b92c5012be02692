"""One problem, one ticket: a customer who complains again while a ticket of theirs is open has the complaint added to
it (its timeline, the staff thread, the customer told which ticket), unless they say it is a different problem, up to
`tickets.max_open_per_customer` open tickets; a more urgent one raises the ticket's severity and brings its SLA
deadlines forward. Through the real engine and the starter complaint flow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.messages import Media
from bot.tickets.models import Ticket
from tests.bot.tickets.test_lifecycle import ROUTING, STAFF, complain, events, queued_notices, ticket
from tests.conftest import Chat, FixedClock, make_settings

JOINED = "Thank you. You already have an open request with us, C-1001, so I've added this to it"
DIFFERENT, SAME = "It's a different problem", "It's the same one"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, staff=STAFF, routing=ROUTING,
                         tickets={"max_open_per_customer": 2})  # fmt: skip


async def tickets_of(core: Core) -> list[tuple[str, str]]:
    async with core.db.sessions() as session:
        rows = (await session.execute(select(Ticket.ref, Ticket.status).order_by(Ticket.id))).all()
    return [(ref, status) for ref, status in rows]


async def test_a_second_complaint_joins_the_open_ticket_and_staff_see_it_in_its_thread(core: Core, chat: Chat) -> None:
    await complain(chat)
    said = await complain(chat, "Billing & payments", "A lot, it's urgent", text="And I was charged twice")
    assert said.startswith(JOINED) and "Maria Santos will see it and reply here" in said
    assert chat.buttons() == [DIFFERENT, SAME]
    assert await tickets_of(core) == [("C-1001", "assigned")]  # one ticket
    added = [e for e in await events(core) if e[0] == "customer_message"][-1]
    assert added[1] == "customer" and added[2].startswith("And I was charged twice")
    (notice,) = await queued_notices(core, "customer_message")  # the assignee reads it in the ticket's thread
    assert notice["text"].startswith("And I was charged twice") and "Category: billing" in notice["text"]

    assert await chat.press(SAME) == "Thanks. Maria Santos has everything and will get back to you here."
    assert await tickets_of(core) == [("C-1001", "assigned")]


async def test_a_different_problem_gets_its_own_ticket_and_leaves_the_first(core: Core, chat: Chat) -> None:
    await complain(chat)
    await complain(chat, "Billing & payments", text="I was charged twice")
    said = await chat.press(DIFFERENT)
    assert said.startswith("Thank you for telling us. Your reference is C-1002.\nIt's with Tom Becker")
    assert await tickets_of(core) == [("C-1001", "assigned"), ("C-1002", "assigned")]
    second = await ticket(core, "C-1002")
    assert (second.category, second.summary) == ("billing", "I was charged twice")
    assert second.description.startswith("I was charged twice")
    # The first ticket's timeline and thread say where the complaint went, so nobody answers it there.
    assert (await events(core))[-1] == ("moved", "customer", "C-1002")
    (moved,) = await queued_notices(core, "moved")
    assert (moved["ticket_id"], moved["text"]) == ((await ticket(core)).id, "C-1002")
    assert [n["kind"] for n in await queued_notices(core, "opened")] == ["opened", "opened"]


async def test_at_the_limit_a_complaint_always_joins_the_latest_open_ticket(core: Core, chat: Chat) -> None:
    await complain(chat)
    await complain(chat, text="Also the lid is broken")
    await chat.press(DIFFERENT)  # C-1002: two open tickets, the limit in this test
    said = await complain(chat, text="And the box was wet")
    assert said == ("Thank you. You already have 2 open requests with us, so I've added this to the latest one, "
                    "C-1002. Maria Santos will see it and reply here.")  # fmt: skip
    assert chat.buttons() == []
    assert [ref for ref, _ in await tickets_of(core)] == ["C-1001", "C-1002"]
    assert (await events(core, "C-1002"))[-1][2].startswith("And the box was wet")

    # A resolved ticket no longer counts: the next different problem gets a ticket again.
    assert (await core.tickets.resolve("C-1001", "maria", "Refunded.")).ok
    await complain(chat, text="The handle came off")
    assert "Your reference is C-1003." in await chat.press(DIFFERENT)


async def test_a_photo_sent_with_a_joined_complaint_is_attached_to_the_open_ticket(core: Core, chat: Chat) -> None:
    await complain(chat)
    await chat.say("/complain")
    await chat.say("Here is the damage")
    await chat.press("Product quality")
    await chat.send(media=Media("photo", "file-9"))
    await chat.press("Quite a lot")
    assert (await ticket(core)).attachments == [{"kind": "photo", "ref": "file-9"}]
    (notice,) = await queued_notices(core, "customer_message")
    assert notice["text"].startswith("(photo attached) Here is the damage")


async def test_customers_are_counted_apart(core: Core, chat: Chat) -> None:
    await complain(chat)
    other = Chat(core, address="customer-2", name="Rui")
    assert "Your reference is C-1002." in await complain(other)


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the clock fixture's start


def hours(moment: datetime | None) -> float:
    """Hours from the start of the test to `moment`."""
    assert moment is not None
    return ((moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - T0).total_seconds() / 3600


async def test_a_more_urgent_complaint_raises_the_tickets_severity_and_brings_its_deadlines_forward(
    core: Core, chat: Chat, clock: FixedClock
) -> None:
    await complain(chat, impact="A little, no rush")  # low: first response in 24 hours, resolution in 120
    first = await ticket(core)
    assert (first.severity, hours(first.first_response_due), hours(first.resolution_due)) == ("low", 24, 120)

    clock.advance(hours=1)
    await complain(chat, impact="A lot, it's urgent", text="It was medicine, I need it today")
    raised = await ticket(core)  # high: 2 and 24 hours, counted from this complaint
    assert (raised.severity, hours(raised.first_response_due), hours(raised.resolution_due)) == ("high", 3, 25)
    assert ("severity_raised", "customer", "low -> high") in await events(core)
    # The assignee reads it under the customer's words in the thread, and the escalation message is redrawn.
    notice = (await queued_notices(core, "customer_message"))[-1]
    assert notice["text"].startswith("It was medicine") and notice["data"] == {
        "severity_raised": {"from": "low", "to": "high"}
    }

    # A less urgent one changes neither.
    clock.advance(hours=1)
    await complain(chat, impact="A little, no rush", text="And the box was wet")
    after = await ticket(core)
    assert (after.severity, hours(after.first_response_due), hours(after.resolution_due)) == ("high", 3, 25)
    assert (await queued_notices(core, "customer_message"))[-1]["data"] == {}
    assert [kind for kind, _, _ in await events(core)].count("severity_raised") == 1


async def test_a_raised_severity_never_moves_a_deadline_later(core: Core, chat: Chat, clock: FixedClock) -> None:
    await complain(chat)  # normal: first response in 8 hours, resolution in 48
    clock.advance(hours=7)
    await complain(chat, impact="A lot, it's urgent")  # high from now: 7 + 2 = 9 and 7 + 24 = 31 hours
    raised = await ticket(core)
    assert (raised.severity, hours(raised.first_response_due), hours(raised.resolution_due)) == ("high", 8, 31)
