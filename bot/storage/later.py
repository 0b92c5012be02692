"""Rows a transaction inserts with a later statement of its own, instead of a statement each, now.

A row nothing in the turn reads back (a survey's answer) can go with the statement that writes the turn's replies
on PostgreSQL (bot/conversations/reply_rows.py, reply_batch.py): one round trip fewer for the message that ends a
survey. Until then it is pending on the session, and whatever runs next writes it first, as the ORM's autoflush would:
a statement run straight (plain.py), any statement through the session, and the commit. A rollback drops it, with
the rest of the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

_PENDING = "bot.storage.later"  # the key in Session.info: [(table, values), ...] in the order they were added


def insert_later(session: AsyncSession, table: Table, values: dict[str, Any]) -> None:
    """Insert `values` (a value for every column but the id) into `table` with a later statement."""
    session.sync_session.info.setdefault(_PENDING, []).append((table, values))


def pending(session: Session) -> bool:
    return _PENDING in session.info


def take(session: Session, table: Table) -> list[dict[str, Any]]:
    """The rows pending for `table`, for a statement that writes them itself; the others stay pending."""
    rows = session.info.get(_PENDING)
    if not rows:
        return []
    taken = [values for of, values in rows if of is table]
    kept = [(of, values) for of, values in rows if of is not table]
    if kept:
        session.info[_PENDING] = kept
    else:
        del session.info[_PENDING]
    return taken


def take_all(session: Session) -> list[tuple[Table, dict[str, Any]]]:
    """Every row pending, for a caller that writes them now."""
    return session.info.pop(_PENDING, None) or []


def _write_through(session: Session) -> None:
    for table, values in take_all(session):
        session.execute(insert(table), values)


@event.listens_for(Session, "do_orm_execute")
def _before_a_statement(state: ORMExecuteState) -> None:
    if pending(state.session):
        _write_through(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write_through(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
