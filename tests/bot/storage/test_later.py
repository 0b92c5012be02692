"""Rows inserted with a later statement (bot/storage/later.py) are in the database by the time anything could read
them: before the next statement, straight or through the session, and at the commit; a rollback drops them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.customers import records
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
