"""Rows inserted with a later statement (bot/storage/later.py) are in the database by the time anything could read
them: before the next statement, straight or through the session, and at the commit; a rollback drops them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.customers import records
from bot.customers.models import Customer
from bot.messages import ChannelRef
from bot.storage import later, plain
from bot.storage.database import Database
from bot.surveys import responses as surveys
from bot.surveys.models import SurveyResponse

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
COUNT = select(func.count()).select_from(SurveyResponse)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def _answer(customer_id: int, score: int) -> dict[str, object]:
    return {"customer_id": customer_id, "survey": "nps", "kind": "nps", "score": score, "comment": None,
            "run_id": None, "ticket_id": None, "created_at": NOW}  # fmt: skip


async def _count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(COUNT)).scalar_one())


async def test_a_row_put_off_is_written_before_the_next_statement_reads(db: Database) -> None:
    async with db.transaction() as session:
        customer = await records.create_with_identity(session, ChannelRef("telegram", "1"), NOW)
        later.insert_later(session, surveys.RESPONSES, _answer(customer.id, 9))
        assert (await plain.read(session, COUNT, {})) == [(1,)]  # straight
        later.insert_later(session, surveys.RESPONSES, _answer(customer.id, 7))
        assert (await session.execute(COUNT)).scalar_one() == 2  # through the session
        later.insert_later(session, surveys.RESPONSES, _answer(customer.id, 3))  # nothing runs after: the commit
    async with db.transaction() as session:
        scores = (await session.execute(select(SurveyResponse.score).order_by(SurveyResponse.id))).scalars().all()
    assert scores == [9, 7, 3]


async def test_a_row_put_off_goes_with_a_rollback(db: Database) -> None:
    async with db.transaction() as session:
        customer = await records.create_with_identity(session, ChannelRef("telegram", "2"), NOW)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            later.insert_later(session, surveys.RESPONSES, _answer(customer.id, 9))
            raise RuntimeError("the turn failed")
    async with db.sessions() as session:
        await session.begin()
        later.insert_later(session, surveys.RESPONSES, _answer(customer.id, 8))
        await session.rollback()
        async with session.begin():  # the next transaction of the session has nothing of the last one to write
            await session.execute(select(1))
    assert await _count(db) == 0


async def test_an_object_added_for_later_is_inserted_before_the_orm_flushes_a_change_to_it(db: Database) -> None:
    """An object the session holds as if loaded, its row still to come (plain.add_later): a flush that updates it,
    or a statement that flushes first, writes the row first, with its values then; the commit keeps what changed
    after."""
    async with db.transaction() as session:
        customer = records.new_customer(NOW, display_name="Ana", language=None, tier="standard")
        plain.add_later(session, customer, 4242)
        customer.display_name = "Ana Lima"
        await session.flush()  # an UPDATE of a row that did not exist would match nothing, and fail
        customer.language = "pt"
        other = records.new_customer(NOW, display_name="Bo", language=None, tier="standard")
        plain.add_later(session, other, 4243)
        other.language = "sv"
        # A statement through the session: its autoflush updates the object, after the row is written.
        assert (await session.execute(select(Customer.language).where(Customer.id == 4243))).scalar_one() == "sv"
    async with db.transaction() as session:
        stored = (await session.execute(select(Customer).where(Customer.id == 4242))).scalar_one()
    assert (stored.display_name, stored.language, stored.tier) == ("Ana Lima", "pt", "standard")
