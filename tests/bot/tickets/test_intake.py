"""One problem, one ticket: a customer who complains again while a ticket of theirs is open has the complaint added to
it (its timeline, the staff thread, the customer told which ticket), unless they say it is a different problem, up to
`tickets.max_open_per_customer` open tickets. Through the real engine and the starter complaint flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.messages import Media
from bot.tickets.models import Ticket
from tests.bot.tickets.test_lifecycle import ROUTING, STAFF, complain, events, queued_notices, ticket
from tests.conftest import Chat, make_settings

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
    added = (await events(core))[-1]
    assert added[:2] == ("customer_message", "customer") and added[2].startswith("And I was charged twice")
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
