"""The step log: one row each time a run enters a flow step, and one when it takes the step's answer. Append-only
(never updated), so writing it costs one insert; the `flows` report (bot/reports/flows.py) reads it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow
from bot.conversations.models import ConversationRun
from bot.conversations.turn import Turn
from bot.storage.base import IDS_NEVER_REUSED, Base

ENTERED = "entered"
ANSWERED = "answered"


class StepEntry(Base):
    __tablename__ = "flow_step_log"
    __table_args__ = (
        # The report groups one flow's entries by step, run by run.
        Index("ix_flow_step_log_flow_step_run", "flow_id", "step_index", "run_id"),
        Index("ix_flow_step_log_run_id", "run_id", "id"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: the log outlives a run or customer erased (it names no person, only ids).
    run_id: Mapped[int]
    flow_id: Mapped[str] = mapped_column(String(100))
    flow_version: Mapped[str] = mapped_column(String(64))
    step_index: Mapped[int]
    step_id: Mapped[str | None] = mapped_column(String(100))
    step_kind: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(16))  # ENTERED | ANSWERED
    at: Mapped[datetime]


def log_step(turn: Turn, run: ConversationRun, lf: LoadedFlow, event: str = ENTERED) -> None:
    """Record that `run` entered (or answered) the step it is at now."""
    step = lf.flow.steps[run.step_index]
    turn.session.add(StepEntry(
        run_id=run.id, flow_id=lf.id, flow_version=lf.version, step_index=run.step_index,
        step_id=step.id, step_kind=step_kind(step), event=event, at=turn.now,
    ))  # fmt: skip


def step_kind(step: s.AnyStep) -> str:
    """ask, say, wait, end, set, action, goto, branch: the step class's name without "Step"."""
    return type(step).__name__.removesuffix("Step").lower()
