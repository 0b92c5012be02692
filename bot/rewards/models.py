"""Reward codes: every code of every pool, and to whom, why and when it was given, and whether it was redeemed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

_UNCLAIMED = text("customer_id IS NULL")


class RewardCode(Base):
    """One code of one pool. Unclaimed while `customer_id` is empty; handed out once per customer per pool (the unique
    constraint on pool and customer holds with several instances: NULLs never collide)."""

    __tablename__ = "reward_codes"
    __table_args__ = (
        UniqueConstraint("pool", "code"),
        UniqueConstraint("pool", "customer_id"),
        # The next free code of a pool, without reading the given ones.
        Index("ix_reward_codes_unclaimed", "pool", "id", postgresql_where=_UNCLAIMED, sqlite_where=_UNCLAIMED),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool: Mapped[str] = mapped_column(String(60))
    code: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    # Why: "flow:<flow id>", "ticket:<ref>", "campaign:<name>", "goodwill:<ref>".
    reason: Mapped[str | None] = mapped_column(String(200))
    given_by: Mapped[str | None] = mapped_column(String(200))
    given_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
