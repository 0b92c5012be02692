"""Customer tiers from the rules in config.yaml (tiers.rules): recomputed daily and after imports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings


async def recompute(session: AsyncSession, settings: Settings, now: datetime) -> dict[str, int]:
    """Assign every customer its tier; returns how many customers each tier has now."""
    raise NotImplementedError("tiers.recompute is being written")
