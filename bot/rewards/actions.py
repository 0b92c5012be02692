"""What adapters (the CLI, the API) do with rewards: import a pool's codes, see the pools, give one by hand, and mark
a code redeemed. Each call is one unit of work."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.config import Settings
from bot.ports import Clock
from bot.rewards import claims, codes
from bot.rewards.claims import Given
from bot.rewards.models import RewardCode
from bot.storage.database import Database

IMPORT_CHUNK = 1000
REDEEMED_EVENT = "reward_redeemed"  # the CRM event (POST /api/events) that says a code was used: data.code
log = logging.getLogger(__name__)


class RewardError(Exception):
    """A request about rewards that cannot be done; the message says why."""


@dataclass(frozen=True)
class Imported:
    added: int
    already_there: int
    problems: list[str]


@dataclass(frozen=True)
class PoolSummary:
    name: str
    title: str
    generated: bool  # codes come from a template
    total: int
    given: int
    redeemed: int

    @property
    def free(self) -> int | None:
        return None if self.generated else self.total - self.given


@dataclass(frozen=True)
class RewardLine:
    pool: str
    code: str
    customer_id: int | None
    reason: str | None
    given_by: str | None
    given_at: datetime | None
    redeemed_at: datetime | None


class RewardActions:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    def _pool(self, name: str) -> None:
        if name not in self.settings.rewards.pools:
            known = ", ".join(sorted(self.settings.rewards.pools)) or "none"
            raise RewardError(f"no reward pool {name!r} under rewards.pools in the settings (known: {known})")

    async def import_codes(self, pool: str, csv_text: str) -> Imported:
        """Add the codes of a CSV file to a pool; codes it already has are left as they are."""
        self._pool(pool)
        if self.settings.rewards.pools[pool].template:
            raise RewardError(f"pool {pool!r} makes its codes from a template; it takes no imported codes")
        read = codes.read_csv(csv_text)
        added = 0
        now = self.clock.now()
        insert = pg_insert if self.db.is_postgres else sqlite_insert
        for start in range(0, len(read.codes), IMPORT_CHUNK):
            rows = [
                {"pool": pool, "code": code, "created_at": now} for code in read.codes[start : start + IMPORT_CHUNK]
            ]
            async with self.db.transaction() as session:
                result = await session.execute(insert(RewardCode).values(rows).on_conflict_do_nothing())
                added += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return Imported(added, len(read.codes) - added, read.problems)

    async def pools(self) -> list[PoolSummary]:
        """Every configured pool with its counts (and pools left in the database that the settings no longer name)."""
        query = select(
            RewardCode.pool, func.count(), func.count(RewardCode.customer_id),
            func.sum(case((RewardCode.redeemed_at.is_not(None), 1), else_=0)),
        ).group_by(RewardCode.pool)  # fmt: skip
        async with self.db.sessions() as session:
            counts = {pool: (total, given, int(redeemed or 0)) for pool, total, given, redeemed in
                      await session.execute(query)}  # fmt: skip
        pools = self.settings.rewards.pools
        names = sorted(set(pools) | set(counts))
        return [
            PoolSummary(name, pools[name].title if name in pools else "(not in the settings)",
                        bool(name in pools and pools[name].template), *counts.get(name, (0, 0, 0)))
            for name in names
        ]  # fmt: skip

    async def given(self, pool: str | None = None, customer_id: int | None = None, limit: int = 50) -> list[RewardLine]:
        """The latest rewards given, newest first."""
        query = select(RewardCode).where(RewardCode.customer_id.is_not(None))
        if pool is not None:
            query = query.where(RewardCode.pool == pool)
        if customer_id is not None:
            query = query.where(RewardCode.customer_id == customer_id)
        query = query.order_by(RewardCode.given_at.desc(), RewardCode.id.desc()).limit(limit)
        async with self.db.sessions() as session:
            return [RewardLine(r.pool, r.code, r.customer_id, r.reason, r.given_by, r.given_at, r.redeemed_at)
                    for r in (await session.execute(query)).scalars()]  # fmt: skip

    async def give(self, pool: str, customer_id: int, reason: str, given_by: str) -> Given:
        """A reward given by hand (or by an adapter's action): the customer's code, or none with why."""
        self._pool(pool)
        async with self.db.transaction() as session:
            return await claims.claim(session, self.settings, pool, customer_id, self.clock.now(), reason=reason,
                                      given_by=given_by)  # fmt: skip

    async def redeem(self, code: str, when: datetime | None = None) -> RewardLine | None:
        """Mark a given code redeemed (the `reward_redeemed` event); None when no given code has that text. A code
        redeemed twice keeps its first moment."""
        async with self.db.transaction() as session:
            query = select(RewardCode).where(RewardCode.code == code.strip(), RewardCode.customer_id.is_not(None))
            row = (await session.execute(query.order_by(RewardCode.id).limit(1))).scalar_one_or_none()
            if row is None:
                return None
            if row.redeemed_at is None:
                row.redeemed_at = when or self.clock.now()
            return RewardLine(row.pool, row.code, row.customer_id, row.reason, row.given_by, row.given_at,
                              row.redeemed_at)  # fmt: skip

    async def redeemed_events(self, events: object) -> int:
        """Mark redeemed the codes of the `reward_redeemed` events among recorded CRM events (`data.code`); how many
        codes were found. A code no customer was given is logged and left alone."""
        found = 0
        for event in events if isinstance(events, list) else [events]:
            if not isinstance(event, dict) or event.get("event") != REDEEMED_EVENT:
                continue
            code = (event.get("data") or {}).get("code") if isinstance(event.get("data"), dict) else None
            if not isinstance(code, str) or not code.strip():
                log.warning("a %s event without data.code: nothing marked redeemed", REDEEMED_EVENT)
                continue
            if await self.redeem(code) is None:
                log.warning("a %s event names a code no customer was given: nothing marked redeemed", REDEEMED_EVENT)
                continue
            found += 1
        return found
