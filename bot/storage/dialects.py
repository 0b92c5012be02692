"""What differs between SQLite and PostgreSQL in a statement: the dialect a session speaks, and its INSERT (both
have ON CONFLICT DO NOTHING, under their own dialect's construct)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_of(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "sqlite"


def insert_for(session: AsyncSession) -> Any:
    """The dialect's `insert`, whose statements have `on_conflict_do_nothing`."""
    return pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
