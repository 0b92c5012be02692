"""The scheduled planning work, run by the leading instance: campaign occurrences and tier recompute.

Both read what was already done from the database, so calling them again is harmless and a call after
downtime does the missed work once (the latest missed campaign occurrence, one recompute).
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from sqlalchemy import select

from bot.config import Settings
from bot.customers import tiers
from bot.outbox.leader import Leadership
from bot.outbox.models import JobMark
from bot.outreach.campaigns import planning
from bot.ports import Clock
from bot.storage.database import Database

log = logging.getLogger(__name__)
TIER_RECOMPUTE = "tier-recompute"


class PlanningJobs:
    def __init__(self, db: Database, settings: Settings, clock: Clock, leadership: Leadership):
        self.db = db
        self.settings = settings
        self.clock = clock
        self.leadership = leadership

    async def plan_campaigns(self) -> int:
        """Plan every campaign occurrence that is due (leader only); returns how many were planned."""
        if not self.settings.campaigns or not await self.leadership.check():
            return 0
        planned = await planning.plan_due(self.db, self.settings, self.clock.now())
        return len(planned)

    async def recompute_tiers(self, *, force: bool = False) -> dict[str, int] | None:
        """Recompute tiers when the daily time has passed since the last run (leader only)."""
        if not await self.leadership.check():
            return None
        now = self.clock.now()
        async with self.db.transaction() as session:
            mark = await session.get(JobMark, TIER_RECOMPUTE)
            if not force and mark is not None and mark.last_run_at >= self._last_daily_moment(now):
                return None
            counts = await tiers.recompute(session, self.settings.tiers, self.settings.business.zone, now)
            if mark is None:
                session.add(JobMark(name=TIER_RECOMPUTE, last_run_at=now))
            else:
                mark.last_run_at = now
        log.info("tiers recomputed: %s", ", ".join(f"{tier} {n}" for tier, n in sorted(counts.items())) or "none")
        return counts

    def _last_daily_moment(self, now: datetime) -> datetime:
        """The most recent outreach.tier_recompute_at moment at or before `now` (business time zone)."""
        zone = self.settings.business.zone
        hour, minute = (int(part) for part in self.settings.outreach.tier_recompute_at.split(":"))
        local = now.astimezone(zone)
        moment = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
        if moment > local:
            moment = datetime.combine(local.date() - timedelta(days=1), time(hour, minute), tzinfo=zone)
        return moment

    async def last_tier_recompute(self) -> datetime | None:
        async with self.db.sessions() as session:
            query = select(JobMark.last_run_at).where(JobMark.name == TIER_RECOMPUTE)
            return (await session.execute(query)).scalar_one_or_none()
