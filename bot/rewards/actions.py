"""What adapters (the CLI, the API) do with rewards: import a pool's codes, see the pools, give one by hand, and mark
a code redeemed. Each call is one unit of work."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.config import Settings
from bot.customers import privacy
from bot.ports import Clock
from bot.rewards import claims, codes, ledger
from bot.rewards.claims import Given
from bot.rewards.ledger import LedgerLine, LedgerPage, Shown
from bot.rewards.models import RewardCode
from bot.storage.database import Database

IMPORT_CHUNK = 1000
REDEEMED_EVENT = "reward_redeemed"  # the CRM event (POST /api/events) that says a code was used: data.code
HAND_REASON = 180  # characters of a hand-given reward's reason (the column keeps 200, with its "hand:" prefix)
log = logging.getLogger(__name__)


class RewardError(Exception):
    """A request about rewards that cannot be done; the message says why."""


@dataclass(frozen=True)
class Imported:
    added: int
    already_there: int
    problems: list[str]
    repeated: int = 0  # rows whose code came earlier in the same file


@dataclass(frozen=True)
class PoolSummary:
    name: str
    title: str
    generated: bool  # codes come from a template
    total: int
    given: int
    redeemed: int
    description: str = ""
    alert_below: int = 0
    template: str | None = None

    @property
    def free(self) -> int | None:
        return None if self.generated else self.total - self.given

    @property
    def state(self) -> str:
        """The pool's stock: "empty", "low" (under its alert_below), or "ok"; a template pool never runs out."""
        free = self.free
        if free is None:
            return "ok"
        if free == 0:
            return "empty"
        return "low" if free < self.alert_below else "ok"

    @property
    def redemption_rate(self) -> float | None:
        return self.redeemed / self.given if self.given else None

    def example_code(self) -> str | None:
        """What a code of a template pool looks like (a fresh one, never stored)."""
        return codes.make(self.template) if self.template else None


@dataclass(frozen=True)
class HandGiven:
    """A reward given from the console: what the claim came to, and to whom."""

    given: Given
    customer_id: int
    customer_name: str | None


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
        return Imported(added, len(read.codes) - added, read.problems, read.repeated)

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
        return [self._summary(name, counts.get(name, (0, 0, 0))) for name in names]

    def _summary(self, name: str, counts: tuple[int, int, int]) -> PoolSummary:
        spec = self.settings.rewards.pools.get(name)
        if spec is None:
            return PoolSummary(name, "(not in the settings)", False, *counts)
        return PoolSummary(name, spec.title, bool(spec.template), *counts, description=spec.description,
                           alert_below=spec.alert_below, template=spec.template)  # fmt: skip

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

    async def give_by_hand(self, pool: str, customer: str, reason: str, given_by: str) -> HandGiven:
        """A reward given from the console to one customer (our id, or ext:<external id>), once per customer per pool
        as on every other path; an empty pool gives none and alerts staff."""
        self._pool(pool)
        reason = " ".join(reason.split())
        if not reason:
            raise RewardError("say why the customer gets it (the reason is kept in the pool's ledger)")
        if len(reason) > HAND_REASON:
            raise RewardError(f"the reason is too long ({len(reason)} characters; up to {HAND_REASON})")
        try:
            ref = privacy.parse_ref(customer.strip())
        except ValueError as exc:
            raise RewardError(str(exc)) from None
        async with self.db.transaction() as session:
            found = await privacy.find(session, ref)
            if found is None:
                raise RewardError(f"no customer {customer.strip()!r}")
            given = await claims.claim(session, self.settings, pool, found.id, self.clock.now(),
                                       reason=f"hand:{reason}", given_by=given_by)  # fmt: skip
            return HandGiven(given, found.id, found.display_name)

    async def ledger(self, pool: str, shown: Shown, page: int) -> LedgerPage:
        """One page of a pool's ledger, newest first."""
        self._pool(pool)
        return await ledger.page_of(self.db, pool, shown, page)

    def ledger_export(self, pool: str, shown: Shown) -> AsyncIterator[list[LedgerLine]]:
        """The whole ledger of a pool, in chunks."""
        self._pool(pool)
        return ledger.every_line(self.db, pool, shown)

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
