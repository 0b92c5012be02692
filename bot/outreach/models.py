"""The campaigns' tables: each campaign occurrence, and every decision of the delivery policy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

# What the delivery policy decided about one proactive row.
SENT = "sent"
HELD = "held"
DEFERRED = "deferred"
SKIPPED = "skipped"


class DeliveryDecision(Base):
    """Every send, hold and skip of proactive work, with its reason: the audit trail and the cap's count."""

    __tablename__ = "delivery_decisions"
    __table_args__ = (
        Index("ix_delivery_decisions_customer_decision_at", "customer_id", "decision", "created_at"),
        Index("ix_delivery_decisions_run_decision", "campaign_run_id", "decision"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int | None]
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    campaign_run_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_runs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    # For holds and deferrals: when it is tried again.
    until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignRun(Base):
    """One occurrence of a campaign (a cron firing for a tier, a one-off, a manual send): planned once."""

    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign", "occurrence"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(100))
    # e.g. "core@2026-12-01T09:00:00+00:00", "once", "manual@2026-11-27": the idempotency key.
    occurrence: Mapped[str] = mapped_column(String(200))
    tiers: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="planning")  # planning | planned | cancelled
    # Planning walks customers by id; a crash resumes after the last planned id.
    cursor: Mapped[int] = mapped_column(default=0)
    planned: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
