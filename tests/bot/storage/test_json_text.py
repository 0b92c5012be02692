"""JSON columns go through orjson (bot/storage/json_text.py) and read back as they were written; what orjson refuses
and the standard library takes is still written and read, as before."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from bot.customers.models import Customer
from bot.storage import json_text, plain
from bot.storage.database import Database

NOW = datetime(2026, 12, 5, 19, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


def test_what_orjson_refuses_is_written_as_the_standard_library_writes_it() -> None:
    for value in ({"note": "half an emoji \ud83d"}, {"big": 2**70}, {1: "one", "two": [1.5, None, True]}):
        assert json.loads(json_text.dumps(value)) == json.loads(json.dumps(value))
    assert math.isnan(json_text.loads('{"score": NaN}')["score"])  # stored text orjson will not read (SQLite's)


async def test_json_columns_read_back_as_written(db: Database) -> None:
    attributes = {"plan": "Pro ✓", "seats": 3, "ratio": 0.25, "nested": {"tags": ["a", "é"], "none": None}, 7: "x"}
    async with db.transaction() as session:
        through_orm = Customer(display_name="Ana", created_at=NOW, attributes=attributes, tags=["vip", "🎉"])
        session.add(through_orm)
        await session.flush()
        straight = Customer(display_name="Bea", created_at=NOW, attributes=attributes, tags=["vip", "🎉"])
        await plain.add_loaded(session, straight)
    async with db.transaction() as session:
        read = (await session.execute(select(Customer.attributes, Customer.tags).order_by(Customer.id))).all()
        stored = (await session.execute(text("SELECT attributes FROM customers ORDER BY id"))).scalars().all()
    expected = {**{k: v for k, v in attributes.items() if k != 7}, "7": "x"}  # JSON's keys are strings
    assert [tuple(row) for row in read] == [(expected, ["vip", "🎉"])] * 2
    assert len({json.dumps(json.loads(s) if isinstance(s, str) else s, sort_keys=True) for s in stored}) == 1
