"""Persistence: one DeclarativeBase, async engine and sessions, Alembic migrations."""

from bot.storage.base import Base, UTCDateTime
from bot.storage.database import Database

__all__ = ["Base", "Database", "UTCDateTime"]
