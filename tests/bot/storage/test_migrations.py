"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import bot.models  # noqa: F401  (every table on the metadata)
from bot.storage.base import Base
from bot.storage.database import Database


async def test_migrations_match_the_models(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        await db.upgrade()
        await db.upgrade()  # a second start finds nothing to do
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        assert diff == [], f"models and migrations differ; add a migration: {diff}"
        assert await db.current_revision() is not None
    finally:
        await db.dispose()
