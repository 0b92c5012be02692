"""Alembic environment: runs on the connection the app hands over, or on DATABASE_URL for autogenerate."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

import bot.models  # noqa: F401  (registers every table on Base.metadata)
from bot.storage.base import Base

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("DATABASE_URL", "sqlite:///engagebot-dev.db")
    with create_engine(url.replace("+aiosqlite", "").replace("+asyncpg", "")).begin() as conn:
        _run(conn)
