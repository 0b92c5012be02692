"""Handing out a reward: one code of a pool to one customer, at most once per customer per pool, safe with several
instances (the pool's free codes are taken with SKIP LOCKED on PostgreSQL; the unique constraint on pool and customer
settles two claims for the same customer). An empty pool alerts staff instead of failing silently."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import templating
from bot.config import Settings
from bot.rewards import codes
from bot.rewards.alerts import queue_alert
from bot.rewards.models import RewardCode

log = logging.getLogger(__name__)
GENERATE_TRIES = 5  # a fresh code that collides with an old one is made again


@dataclass(frozen=True)
class Given:
    """What a claim came to: the customer's code (`already`: they had it before), or none (`empty`, `unknown`)."""

    pool: str
    code: str | None
    description: str = ""
    already: bool = False
    # Why there is no code: "empty" (staff were alerted) or "unknown pool".
    missing: str | None = None

    @property
    def given(self) -> bool:
        return self.code is not None

    def as_context(self) -> dict[str, Any]:
        return {"pool": self.pool, "code": self.code or "", "description": self.description, "given": self.given,
                "already": self.already, "missing": self.missing or ""}  # fmt: skip


def customer_text(settings: Settings, given: Given) -> str:
    """What the customer reads: the code, or that it is on its way (the pool ran out)."""
    template = settings.rewards.given_text if given.given else settings.rewards.empty_text
    return templating.render(template, {"reward": given.as_context()})


def compensation_text(settings: Settings, given: Given) -> str:
    """The code as a ticket's compensation reads ("code SORRY-7F3K (10% off)"), or that it is on its way."""
    if not given.given:
        return settings.rewards.empty_text
    worth = f" ({given.description})" if given.description else ""
    return f"code {given.code}{worth}"


async def claim(
    session: AsyncSession, settings: Settings, pool: str, customer_id: int, now: datetime, *, reason: str,
    given_by: str = "system",
) -> Given:  # fmt: skip
    """The customer's code of `pool`: the one they already have, else a free one (or a fresh one from the template)."""
    spec = settings.rewards.pools.get(pool)
    if spec is None:
        log.error("reward pool %r is not under rewards.pools: nothing given to customer #%d", pool, customer_id)
        await queue_alert(session, settings, f"unknown-pool:{pool}:{now.date()}",
                          f"Reward pool `{pool}` is not configured (rewards.pools): a customer got no reward "
                          f"({reason}).", now)  # fmt: skip
        return Given(pool, None, missing="unknown pool")
    found = await _held(session, pool, customer_id)
    if found is not None:
        return Given(pool, found, spec.description, already=True)
    stamp = {"customer_id": customer_id, "reason": reason[:200], "given_by": given_by[:200], "given_at": now}
    for _ in range(GENERATE_TRIES if spec.template else 1):
        try:
            async with session.begin_nested():
                code = await (_fresh(session, pool, spec.template, stamp, now) if spec.template
                              else _free(session, pool, stamp, _postgres(session)))  # fmt: skip
        except IntegrityError:
            # The customer got one from this pool meanwhile (another instance), or a fresh code collided.
            found = await _held(session, pool, customer_id)
            if found is not None:
                return Given(pool, found, spec.description, already=True)
            continue
        if code is None:
            break
        await _alert_if_low(session, settings, pool, now)
        return Given(pool, code, spec.description)
    log.warning("reward pool %r is empty: customer #%d got no code (%s)", pool, customer_id, reason)
    await queue_alert(session, settings, f"empty:{pool}:{now.date()}",
                      f"Reward pool `{pool}` is empty: a customer was promised a reward and got none ({reason}). "
                      f"Import codes in the console (/admin/rewards/{pool}) or with "
                      f"`engagebot rewards import {pool} FILE.csv`.", now)  # fmt: skip
    return Given(pool, None, spec.description, missing="empty")


def _postgres(session: AsyncSession) -> bool:
    return bool(session.bind and session.bind.dialect.name == "postgresql")


async def _held(session: AsyncSession, pool: str, customer_id: int) -> str | None:
    query = select(RewardCode.code).where(RewardCode.pool == pool, RewardCode.customer_id == customer_id)
    return (await session.execute(query)).scalar_one_or_none()


async def _fresh(session: AsyncSession, pool: str, template: str, stamp: dict[str, Any], now: datetime) -> str:
    code = codes.make(template)
    session.add(RewardCode(pool=pool, code=code, created_at=now, **stamp))
    await session.flush()
    return code


async def _free(session: AsyncSession, pool: str, stamp: dict[str, Any], skip_locked: bool) -> str | None:
    """Take the pool's oldest free code; another instance's claim in progress is skipped, not waited for."""
    query = (select(RewardCode.id, RewardCode.code).where(RewardCode.pool == pool, RewardCode.customer_id.is_(None))
             .order_by(RewardCode.id).limit(1))  # fmt: skip
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    taken = await session.execute(
        update(RewardCode).where(RewardCode.id == row.id, RewardCode.customer_id.is_(None)).values(**stamp)
    )
    return row.code if taken.rowcount else None  # type: ignore[attr-defined]


async def free_codes(session: AsyncSession, pool: str) -> int:
    query = select(func.count()).where(RewardCode.pool == pool, RewardCode.customer_id.is_(None))
    return int((await session.execute(query)).scalar_one())


async def _alert_if_low(session: AsyncSession, settings: Settings, pool: str, now: datetime) -> None:
    spec = settings.rewards.pools[pool]
    if spec.template or not spec.alert_below:
        return
    left = await free_codes(session, pool)
    if left < spec.alert_below:
        await queue_alert(
            session,
            settings,
            f"low:{pool}:{now.date()}",
            f"Reward pool `{pool}` has {left} codes left (alert_below: {spec.alert_below}).",
            now,
        )
