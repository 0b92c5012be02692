"""The outbox's tables: every piece of proactive or retried work is a row with a due time and a dedupe key; the
shared rate slots; the marks of scheduled jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

PENDING = "pending"
LEASED = "leased"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"


_UNSENT = text(f"status IN ('{PENDING}', '{LEASED}')")


class OutboxItem(Base):
    __tablename__ = "outbox"
    # The claim's order: a claim reads the few index entries it takes, however long the queue.
    __table_args__ = (
        Index("ix_outbox_status_due_id", "status", "due_at", "id"),
        # A customer's unsent rows (their first unsent send, the per-customer order): only rows still to do.
        Index("ix_outbox_unsent_customer_id", "customer_id", "id", postgresql_where=_UNSENT, sqlite_where=_UNSENT),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the row is for: one of the kinds registered with the dispatcher (bot/outbox/kinds.py).
    kind: Mapped[str] = mapped_column(String(32))
    # No foreign key: its check cost planning a third of its time, and erasing a customer deletes their rows here
    # explicitly (bot/customers/privacy.py); a row left behind a customer erased meanwhile is skipped (migration 0019).
    customer_id: Mapped[int | None] = mapped_column(index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The campaign occurrence this row belongs to, for progress and reports. No foreign key: planning writes a run's
    # rows by the hundred thousand while it holds the run locked, and runs are never deleted (migration 0017).
    campaign_run_id: Mapped[int | None] = mapped_column(index=True)
    # Proactive work obeys the delivery policy; transactional work (replies, ticket updates) does not.
    proactive: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class RateSlot(Base):
    """A rate limit shared by every instance: the next free send slot of one channel."""

    __tablename__ = "rate_slots"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobMark(Base):
    """When a scheduled job last ran (daily tier recompute): runs missed in downtime are caught up once."""

    __tablename__ = "job_marks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_run_at: Mapped[datetime]
