"""A ticket's score needs a real ticket of that customer: a follow-up run without one (started by a forged button, or
carrying another customer's ticket) records no CSAT and changes no ticket; the real follow-up still does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.customers.models import Customer
from bot.surveys.models import SurveyResponse
from tests.bot.tickets.test_lifecycle import ROUTING, STAFF, complain, events, queued_notices, ticket
from tests.conftest import STARTER_FLOWS, Chat, make_settings

# Like the starter follow-up, without its first step (which already ends a run that has no ticket): what the core
# itself must refuse to record.
RATE_TICKET = """\
version: 1
flow: rate_ticket
title: Rate a ticket
triggers:
  - event: ticket_resolved
steps:
  - id: csat
    ask: How did we do?
    expect: rating
  - action: record_survey
    survey: ticket_csat
    kind: csat
    score: "{{ answers.csat }}"
  - action: ticket_feedback
    score: "{{ answers.csat }}"
  - end: Thanks.
"""


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    target.mkdir()
    shutil.copy(STARTER_FLOWS / "complaint.yaml", target / "complaint.yaml")
    (target / "rate_ticket.yaml").write_text(RATE_TICKET, encoding="utf-8")
    return target


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, staff=STAFF, routing=ROUTING)


async def customer_id(core: Core, name: str) -> int:
    async with core.db.sessions() as session:
        return int((await session.execute(select(Customer.id).where(Customer.display_name == name))).scalar_one())


async def scores(core: Core) -> list[tuple[int | None, int | None]]:
    async with core.db.sessions() as session:
        return [(r.score, r.ticket_id) for r in (await session.execute(select(SurveyResponse))).scalars()]


async def rate(core: Core, chat: Chat, data: dict | None) -> str:
    """The rating flow started for the chat's customer by the event, then answered with a 1."""
    await core.engine.fire_event(await customer_id(core, chat.name or ""), "ticket_resolved", data, interrupt=True)
    return await chat.say("1")


async def test_a_follow_up_without_a_ticket_records_nothing(core: Core, chat: Chat) -> None:
    await chat.say("hello")
    assert await rate(core, chat, None) == "Thanks."
    assert await scores(core) == []


async def test_a_follow_up_carrying_another_customers_ticket_records_nothing_and_leaves_it_alone(
    core: Core, chat: Chat
) -> None:
    await complain(chat)  # Ana's ticket C-1001
    mallory = Chat(core, address="customer-2", name="Mallory")
    await mallory.say("hello")
    before = await events(core)
    assert await rate(core, mallory, {"ticket_id": (await ticket(core)).id}) == "Thanks."
    assert await scores(core) == []
    found = await ticket(core)
    assert (found.status, found.csat_score) == ("assigned", None)  # not reopened by a 1 from someone else
    assert await events(core) == before and await queued_notices(core, "csat") == []


@pytest.mark.parametrize("forged", ["999999", "2147483648", "not-a-number", "-1"])
async def test_a_follow_up_carrying_a_ticket_that_is_no_ticket_records_nothing(
    core: Core, chat: Chat, forged: str
) -> None:
    await chat.say("hello")
    await rate(core, chat, {"ticket_id": forged})
    assert await scores(core) == []


async def test_the_customers_own_ticket_is_rated(core: Core, chat: Chat) -> None:
    await complain(chat)
    await rate(core, chat, {"ticket_id": (await ticket(core)).id})
    found = await ticket(core)
    assert await scores(core) == [(1, found.id)]
    assert (found.status, found.csat_score) == ("reopened", 1)


async def test_the_starter_follow_up_without_a_ticket_says_and_records_nothing(
    tmp_path: Path, database_url: str, clock: object
) -> None:
    flows = tmp_path / "starter"
    shutil.copytree(STARTER_FLOWS, flows)
    core = Core(make_settings(tmp_path, database_url, flows, staff=STAFF, routing=ROUTING))
    assert not await core.prepare()
    try:
        chat = Chat(core, name="Ana")
        await chat.say("cancel")  # the customer exists, past the welcome
        await core.engine.fire_event(await customer_id(core, "Ana"), "ticket_resolved", None, interrupt=True)
        async with core.db.sessions() as session:
            assert (await session.execute(select(SurveyResponse))).first() is None
        assert "Is your problem solved?" not in await chat.say("yes")
    finally:
        await core.close()
