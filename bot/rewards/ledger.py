"""A pool's ledger: who got which code, why, when, from whom, and when it was redeemed; newest first, a page at a time
(the console) or whole (its CSV download)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Select, func, select

from bot.customers.models import Customer
from bot.rewards.models import RewardCode
from bot.storage.database import Database

PAGE_SIZE = 50
EXPORT_CHUNK = 1000
# How a reason reads: "flow:gift" -> "flow gift" (the reasons are written by claims' callers: flow, ticket,
# campaign, goodwill, and by hand from the console).
WHY = {"flow": "flow", "ticket": "ticket", "campaign": "campaign", "goodwill": "goodwill after ticket",
       "hand": "by hand:"}  # fmt: skip


class Shown(StrEnum):
    """Which given codes the ledger lists."""

    GIVEN = "given"  # every given code
    REDEEMED = "redeemed"
    UNREDEEMED = "unredeemed"


@dataclass(frozen=True)
class LedgerLine:
    code: str
    customer_id: int | None
    customer_name: str | None
    external_id: str | None
    reason: str | None
    given_by: str | None
    given_at: datetime | None
    redeemed_at: datetime | None

    @property
    def why(self) -> str:
        kind, colon, rest = (self.reason or "").partition(":")
        if not colon or kind not in WHY:
            return self.reason or "-"
        return f"{WHY[kind]} {rest}"


@dataclass(frozen=True)
class LedgerPage:
    lines: list[LedgerLine]
    total: int  # given codes that match, on every page
    page: int
    pages: int


def _given(pool: str, shown: Shown) -> Select:  # type: ignore[type-arg]
    query = select(RewardCode, Customer.display_name, Customer.external_id).outerjoin(
        Customer, Customer.id == RewardCode.customer_id
    ).where(RewardCode.pool == pool, RewardCode.customer_id.is_not(None))  # fmt: skip
    if shown is Shown.REDEEMED:
        query = query.where(RewardCode.redeemed_at.is_not(None))
    elif shown is Shown.UNREDEEMED:
        query = query.where(RewardCode.redeemed_at.is_(None))
    return query.order_by(RewardCode.given_at.desc(), RewardCode.id.desc())


def _line(row: RewardCode, name: str | None, external_id: str | None) -> LedgerLine:
    return LedgerLine(row.code, row.customer_id, name, external_id, row.reason, row.given_by, row.given_at,
                      row.redeemed_at)  # fmt: skip


async def page_of(db: Database, pool: str, shown: Shown, page: int, size: int = PAGE_SIZE) -> LedgerPage:
    """One page (from 1; a page past the end shows the last one)."""
    query = _given(pool, shown)
    async with db.sessions() as session:
        total = int((await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one())
        pages = max(1, -(-total // size))
        page = min(max(1, page), pages)
        rows = await session.execute(query.limit(size).offset((page - 1) * size))
        return LedgerPage([_line(*row) for row in rows], total, page, pages)


async def every_line(db: Database, pool: str, shown: Shown) -> AsyncIterator[list[LedgerLine]]:
    """The whole ledger in chunks, streamed from one consistent read (a code given meanwhile is not listed twice)."""
    async with db.sessions() as session:
        result = await session.stream(_given(pool, shown))
        async for rows in result.partitions(EXPORT_CHUNK):
            yield [_line(*row) for row in rows]
