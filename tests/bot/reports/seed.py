"""Rows for the report tests, written as the product stores them, at moments given in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.customers.models import Customer
from bot.storage.base import Base

ZONE = "America/New_York"  # 5 hours behind UTC until 8 March 2026, then 4 (DST): buckets must follow


def at(text: str) -> datetime:
    """'2026-03-02 03:00' in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def customers(session: AsyncSession, *specs: tuple[str, str]) -> list[Customer]:
    """One customer per (created at, tier)."""
    rows = [Customer(display_name=f"c{i}", tier=tier, created_at=at(created), attributes={}, tags=[])
            for i, (created, tier) in enumerate(specs, 1)]  # fmt: skip
    session.add_all(rows)
    await session.flush()
    return rows


async def add(session: AsyncSession, *rows: Base) -> None:
    session.add_all(rows)
    await session.flush()
