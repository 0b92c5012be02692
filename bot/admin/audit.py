"""The audit log: one row per change made through the console or the admin commands, read newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.models import AuditEntry
from bot.storage.database import Database


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


def record(session: AsyncSession, now: datetime, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Add an entry in the caller's transaction, so a change and its record commit together."""
    session.add(AuditEntry(at=now, actor=actor, action=action, target=target[:200], detail=detail))


async def recent(db: Database, limit: int = 200, target: str | None = None) -> list[AuditLine]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    async with db.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return [AuditLine(r.at, r.actor, r.action, r.target, r.detail) for r in rows]


async def note(db: Database, now: datetime, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """An entry in a transaction of its own, for a change another service committed (a campaign send)."""
    async with db.transaction() as session:
        record(session, now, actor, action, target, detail)
