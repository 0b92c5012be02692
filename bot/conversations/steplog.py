"""The step log: one row each time a run enters a flow step, and one when it takes the step's answer. Append-only
(never updated); the `flows` report (bot/reports/flows.py) reads it.

A turn's entries (a survey answer makes two: the answer taken, the next question entered) are kept on the session
and written as one plain INSERT when it commits: through the ORM's unit of work each was an object, a flush and an
INSERT ... RETURNING of an id nobody reads (SQLite: one statement per row), a fifth of the ORM work of a message."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Index, String, TextClause, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow
from bot.conversations.models import ConversationRun
from bot.conversations.turn import Turn
from bot.storage import plain
from bot.storage.arrays import insert_values
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


_PENDING = "step_log"  # the key in Session.info of the entries the session's transaction will write
COLUMNS = ("run_id", "flow_id", "flow_version", "step_index", "step_id", "step_kind", "event", "at")


def log_step(turn: Turn, run: ConversationRun, lf: LoadedFlow, event: str = ENTERED) -> None:
    """Record that `run` entered (or answered) the step it is at now (written when the turn commits)."""
    step = lf.flow.steps[run.step_index]
    entry = (run.id, lf.id, lf.version, run.step_index, step.id, step_kind(step), event, turn.now)
    turn.session.sync_session.info.setdefault(_PENDING, []).append(entry)


@functools.cache
def insert_rows(count: int) -> tuple[str, tuple[BindParameter[Any], ...]]:
    """One INSERT of `count` rows (parameters `step_<column>_<n>`) and its typed parameters, built once per count (a
    turn writes one to a few)."""
    return insert_values(StepEntry.__table__, COLUMNS, "step", count)


@functools.cache
def _insert_statement(count: int) -> TextClause:
    sql, typed = insert_rows(count)
    return text(sql).bindparams(*typed)


async def write_pending(session: AsyncSession) -> None:
    """Write the entries so far now, straight to the driver (bot/storage/plain.py): at the commit they went through
    the session's execute, a twentieth of a message's CPU on SQLite."""
    entries = take_pending(session.sync_session)
    if entries:
        await plain.execute(session, _insert_statement(len(entries)), row_params(entries))


def take_pending(session: Session) -> list[tuple[Any, ...]]:
    """The entries this session's transaction would write at commit, for a caller that writes them now."""
    return session.info.pop(_PENDING, None) or []


def row_params(entries: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The parameters of `insert_rows(len(entries))`."""
    return {f"step_{c}_{n}": value for n, entry in enumerate(entries) for c, value in zip(COLUMNS, entry, strict=True)}


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    entries = take_pending(session)
    if entries:
        session.execute(_insert_statement(len(entries)), row_params(entries))


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)  # a rolled-back turn logged nothing


def step_kind(step: s.AnyStep) -> str:
    """ask, say, wait, end, set, action, goto, branch: the step class's name without "Step"."""
    return type(step).__name__.removesuffix("Step").lower()
