"""The campaigns' tables: each campaign occurrence, and every decision of the delivery policy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
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


class CampaignVersion(Base):
    """One saved version of a campaign (its settings as YAML). The newest row of a name is its head: the one in
    force on every instance; a retired head means the campaign is gone."""

    __tablename__ = "campaign_versions"
    __table_args__ = (UniqueConstraint("name", "number"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    number: Mapped[int]  # 1, 2, 3... per campaign
    version: Mapped[str] = mapped_column(String(64))  # a hash of the settings (what the config mark compares)
    source: Mapped[str] = mapped_column(Text)  # the campaign as it reads under `campaigns: NAME:` in config.yaml
    retired: Mapped[bool] = mapped_column(default=False)
    origin: Mapped[str] = mapped_column(String(16))  # "config" or "console"
    author: Mapped[str] = mapped_column(String(60))
    note: Mapped[str] = mapped_column(Text, default="")
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignConfigMark(Base):
    """The version config.yaml was last known to hold for a campaign (its hash, or RETIRED once it was removed
    there): a config that differs from its mark was edited, and may replace the head only if the head is the mark."""

    __tablename__ = "campaign_config_marks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
