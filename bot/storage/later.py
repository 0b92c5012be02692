"""Rows a transaction inserts with a later statement of its own, instead of a statement each, now.

A row the turn does not read back from the database can go with the statement that writes the turn's replies on
PostgreSQL (bot/conversations/reply_rows.py, reply_batch.py), one round trip fewer: a survey's answer, at the end of
the survey; a new customer's first run, whose id the statement that made them drew (bot/conversations/receive.py),
kept by the session as if loaded and written with its values then. Until then it is pending on the session, and
whatever runs next writes it first, as the ORM's autoflush would: a statement run straight (plain.py), any statement
through the session, the commit, and for an object, the ORM's flush. A rollback drops it, with the rest of the
transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

_PENDING = "bot.storage.later"  # the key in Session.info: [(table, row), ...] in the order they were added


def insert_later(session: AsyncSession, table: Table, row: dict[str, Any] | Any) -> None:
    """Insert `row` into `table` with a later statement: a dict (a value for every column but the id), or an ORM
    object the session holds as if loaded (plain.add_later), written with its values at that moment."""
    session.sync_session.info.setdefault(_PENDING, []).append((table, row))


def pending(session: Session) -> bool:
    return _PENDING in session.info


def is_pending(session: Session, row: Any) -> bool:
    """Whether this object (or dict) is still to be inserted."""
    return any(pending_row is row for _, pending_row in session.info.get(_PENDING, ()))


def take(session: Session, table: Table) -> list[Any]:
    """The rows pending for `table` (dicts or objects, as added), for a statement that writes them itself; the
    others stay pending."""
    rows = session.info.get(_PENDING)
    if not rows:
        return []
    taken = [row for of, row in rows if of is table]
    kept = [(of, row) for of, row in rows if of is not table]
    if kept:
        session.info[_PENDING] = kept
    else:
        del session.info[_PENDING]
    return taken


def take_all(session: Session) -> list[tuple[Table, dict[str, Any]]]:
    """Every row pending, as a dict of its columns' values now, for a caller that writes them now."""
    return [(table, values(table, row)) for table, row in session.info.pop(_PENDING, None) or []]


def values(table: Table, row: dict[str, Any] | Any) -> dict[str, Any]:
    """A pending row's values: the dict given, or the object's columns as they are now."""
    if isinstance(row, dict):
        return row
    now = inspect(row).dict
    return {column.key: now[column.key] for column in table.columns}


def _write_through(session: Session) -> None:
    with session.no_autoflush:  # the rows first: a flush may update an object among them
        for table, row in take_all(session):
            session.execute(insert(table), row)


@event.listens_for(Session, "do_orm_execute")
def _before_a_statement(state: ORMExecuteState) -> None:
    if pending(state.session):
        _write_through(state.session)


@event.listens_for(Session, "before_flush")
def _before_a_flush(session: Session, _flush: UOWTransaction, _objects: Any) -> None:
    # An object added for later may be changed by the flush's UPDATE: its row must be there first. The flush writes
    # only the ORM's objects, so a row given as values can wait for a statement that might read it.
    rows = session.info.pop(_PENDING, None) or []
    objects = [(table, values(table, row)) for table, row in rows if not isinstance(row, dict)]
    for table, row in objects:
        session.execute(insert(table), row)  # no autoflush: the session is flushing already
    kept = [(table, row) for table, row in rows if isinstance(row, dict)]
    if kept:
        session.info[_PENDING] = kept


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write_through(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
