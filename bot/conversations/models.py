"""Conversation state (one row per flow run) and every flow version ever run (the transcript: bot/transcript/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

# Run statuses. At most one run per customer is ACTIVE (in the foreground, may await an answer).
ACTIVE = "active"
WAITING = "waiting"  # paused by a `wait` step until resume_at
SUSPENDED = "suspended"  # interrupted by another flow; resumed when that one ends
DONE = "done"
CANCELLED = "cancelled"
OPEN_STATUSES = (ACTIVE, WAITING, SUSPENDED)


class ConversationRun(Base):
    __tablename__ = "conversation_runs"
    __table_args__ = (
        Index("ix_conversation_runs_customer_status", "customer_id", "status"),
        # The win-back reads the cancellation flows that ended since its last look (migration 0015).
        Index("ix_conversation_runs_flow_ended", "flow_id", "ended_at"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    flow_id: Mapped[str] = mapped_column(String(100))
    # Content hash of the flow file the run started on; the run finishes on that version.
    flow_version: Mapped[str] = mapped_column(String(64))
    step_index: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    awaiting_answer: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resume_at: Mapped[datetime | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    def finish(self, now: datetime, status: str = DONE) -> None:
        """Ended (DONE) or closed early (CANCELLED): the run waits for nothing any more."""
        self.status = status
        self.awaiting_answer = False
        self.ended_at = now
        self.updated_at = now

    def set_aside(self, now: datetime) -> None:
        """Interrupted by another flow: SUSPENDED, on the stack of interrupted flows, until that one ends."""
        self.status = SUSPENDED
        self.updated_at = now


class FlowVersion(Base):
    """The source of every flow version a conversation ran on, so a restart can finish it."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
