"""The retention programs' scheduled work, run by the leading instance: new CRM events and cancellation flows (every
tick), the cross-sell rules and the re-survey schedule (every few minutes).

Events are read by when they arrived, from a mark kept in the database, looking back a little further than the mark
(a transaction that committed late on PostgreSQL): everything done with them is keyed, so reading one twice adds
nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.outbox.leader import Leadership
from bot.outbox.models import JobMark
from bot.ports import Clock
from bot.retention import activation, crosssell, resurvey, winback
from bot.storage.database import Database

log = logging.getLogger(__name__)
EVENTS_MARK = "retention-events"
CROSSSELL_MARK = "retention-crosssell"
RESURVEY_MARK = "retention-resurvey"
LOOK_BACK = timedelta(minutes=10)
# On a first run, events this old are still taken (as CRM events start flows: bot/customers/event_recording.py).
FIRST_LOOK_BACK = timedelta(days=2)


class RetentionJobs:
    def __init__(self, db: Database, settings: Settings, clock: Clock, leadership: Leadership):
        self.db = db
        self.settings = settings
        self.clock = clock
        self.leadership = leadership

    async def take_events(self) -> dict[str, int]:
        """Cancellations, comebacks, opt-outs, signups and activations since the last look (leader only)."""
        if not await self.leadership.check():
            return {}
        now = self.clock.now()
        s = self.settings
        async with self.db.transaction() as session:
            since = await _since(session, EVENTS_MARK, now)
            done: dict[str, int] = {}
            if s.winback.enabled:
                done["cancellations"] = await winback.take_events(session, s, since, now)
                done["cancellations"] += await winback.take_flow_runs(session, s, since, now)
                done["won_back"] = await winback.stop_comebacks(session, s.winback, since, now)
                done["opted_out"] = await winback.stop_opted_out(session, now)
            if s.activation.enabled:
                done["nudges"] = await activation.take_signups(session, s.activation, since, now)
                done["activated"] = await activation.stop_activated(session, since, now)
            await _mark(session, EVENTS_MARK, now)
        return done

    async def plan_crosssell(self, *, force: bool = False) -> int | None:
        """Queue the offers the cross-sell rules allow (every crosssell.check_every_minutes; leader only)."""
        cfg = self.settings.crosssell
        return await self._periodic(CROSSSELL_MARK, cfg.enabled and bool(cfg.rules), cfg.check_every_minutes, force,
                                    lambda session, now: crosssell.plan(session, cfg, now))  # fmt: skip

    async def plan_resurvey(self, *, force: bool = False) -> int | None:
        """Queue the re-surveys that are due (every resurvey.check_every_minutes; leader only)."""
        cfg = self.settings.resurvey
        return await self._periodic(RESURVEY_MARK, cfg.enabled, cfg.check_every_minutes, force,
                                    lambda session, now: resurvey.plan(session, cfg, now))  # fmt: skip

    async def _periodic(self, name: str, enabled: bool, minutes: float, force: bool, work) -> int | None:  # type: ignore[no-untyped-def]
        if not enabled or not await self.leadership.check():
            return None
        now = self.clock.now()
        async with self.db.transaction() as session:
            mark = await session.get(JobMark, name)
            if not force and mark is not None and mark.last_run_at > now - timedelta(minutes=minutes):
                return None
            queued: int = await work(session, now)
            await _mark(session, name, now)
        return queued


async def _since(session: AsyncSession, name: str, now: datetime) -> datetime:
    mark = await session.get(JobMark, name)
    return mark.last_run_at - LOOK_BACK if mark is not None else now - FIRST_LOOK_BACK


async def _mark(session: AsyncSession, name: str, now: datetime) -> None:
    mark = await session.get(JobMark, name)
    if mark is None:
        session.add(JobMark(name=name, last_run_at=now))
    else:
        mark.last_run_at = now
