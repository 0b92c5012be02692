"""A reply to a customer's message on PostgreSQL: its transcript rows, the turn's step log entries, its outbox row,
the survey answer it recorded and the first run of a customer it made, if any (bot/storage/later.py), and, most
often, the UPDATE of the run it moved on, in one statement.

Three INSERTs were three round trips and executions per message; data-modifying CTEs write them at once. Their
rows are not visible to the outer INSERT's RETURNING, which only looks at earlier outbox rows. SQLite has no
INSERT in a WITH clause (and no round trips to save): it writes the two rows apart (deliver.py).

The run's UPDATE went through the ORM's unit of work, the largest single cost of a message in the profiles
(bench/README.md): working out an order of every mapper and the history of every attribute for one row. When a run
moved on is all the turn has left to flush (a survey answer, most messages), its changed columns go in the same
statement instead, and the session holds the run as if it had flushed it (`plain.written`): unchanged, and a
later change to it in the same transaction is flushed as usual. Anything else the turn changed is flushed by the ORM
as before."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BindParameter, Integer, TextClause, bindparam, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot import transcript
from bot.conversations import steplog
from bot.conversations.models import ConversationRun
from bot.outbox.delivery import INSERT_SEND_SQL, SEND_TYPES
from bot.storage import later, plain
from bot.storage.arrays import insert_values
from bot.surveys import responses as surveys

_MESSAGES = transcript.Message.__table__
_SAID_COLUMNS = ("customer_id", "direction", "channel", "platform_message_id", "text", "payload", "created_at")
_RUNS = ConversationRun.__table__
RunChange = tuple[ConversationRun, dict[str, Any]]
STARTED_COLUMNS = tuple(c.key for c in _RUNS.columns)  # a run inserted with the replies: every column, its id too


def run_change_alone(session: AsyncSession) -> RunChange | None:
    """The run and its changed columns, when that is the only change the session has left to flush; else None."""
    if session.new or session.deleted:
        return None
    dirty = session.dirty
    if len(dirty) != 1:
        return None
    (run,) = dirty
    if not isinstance(run, ConversationRun):
        return None
    state = inspect(run)
    changed = {key: state.dict[key] for key in state.committed_state}
    if not changed or not all(key in _RUNS.c for key in changed):
        return None
    return run, changed


async def write_run_change(session: AsyncSession, run_change: RunChange) -> None:
    """The run's changed columns as a plain UPDATE (SQLite, which has no UPDATE in a WITH clause): still a fraction
    of the ORM's flush of it. Nothing of the run is left to flush, as with `insert_said_and_sent`."""
    run, changed = run_change
    with session.no_autoflush:
        await plain.execute(session, _run_update(tuple(sorted(changed))), {**_run_params(changed), "run_id": run.id})
    plain.written(session, run)


@functools.cache
def _run_update(columns: tuple[str, ...]) -> TextClause:
    return text(_run_update_sql(columns)).bindparams(*_run_types(columns))


def _run_update_sql(columns: tuple[str, ...]) -> str:
    return f"UPDATE {_RUNS.name} SET {', '.join(f'{c} = :run_{c}' for c in columns)} WHERE id = :run_id"


def _run_types(columns: tuple[str, ...]) -> tuple[BindParameter[Any], ...]:
    return (*(bindparam(f"run_{c}", type_=_RUNS.c[c].type) for c in columns), bindparam("run_id", type_=Integer()))


def _run_params(changed: dict[str, Any]) -> dict[str, Any]:
    return {f"run_{c}": value for c, value in changed.items()}


@functools.cache
def _said_and_sent(
    count: int, steps: int, run_columns: tuple[str, ...], answers: int = 0, started: int = 0
) -> TextClause:
    """`count` transcript rows, `steps` step log rows, the UPDATE of `run_columns` of a run (none: no UPDATE),
    `answers` survey answers recorded (surveys.record), `started` runs inserted (a new customer's first) and the
    outbox row, built once per shape (a turn has a reply or a few, logs none to a few steps, changes one of a few sets
    of a run's columns, records an answer or none, and starts a new customer's first run or none)."""
    sql, said_types = insert_values(_MESSAGES, _SAID_COLUMNS, "said", count)
    sql = f"WITH said AS ({sql}) "
    started_types: tuple[BindParameter[Any], ...] = ()
    if started:
        started_sql, started_types = insert_values(_RUNS, STARTED_COLUMNS, "started", started)
        sql += f", started AS ({started_sql}) "
    answer_types: tuple[BindParameter[Any], ...] = ()
    if answers:
        answer_sql, answer_types = insert_values(surveys.RESPONSES, surveys.COLUMNS, "answer", answers)
        sql += f", answers AS ({answer_sql}) "
    step_types: tuple[BindParameter[Any], ...] = ()
    if steps:
        step_sql, step_types = steplog.insert_rows(steps)
        sql += f", steps AS ({step_sql}) "
    run_types: tuple[BindParameter[Any], ...] = ()
    if run_columns:
        sql += f", run AS ({_run_update_sql(run_columns)}) "
        run_types = _run_types(run_columns)
    types = (*said_types, *started_types, *answer_types, *step_types, *run_types, *SEND_TYPES)
    return text(sql + INSERT_SEND_SQL).bindparams(*types)


def _rows_params(prefix: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"{prefix}_{c}_{n}": row[c] for n, row in enumerate(rows) for c in columns}


async def insert_said_and_sent(
    session: AsyncSession, said: list[dict[str, Any]], send: dict[str, Any], run_change: RunChange | None = None
) -> tuple[int, bool]:
    """Insert the transcript rows `said`, the step log's entries and survey answers so far and the send row `send`,
    and write `run_change` (from `run_change_alone`, not flushed): the send's id, and whether earlier sends to its
    customer are unsent (as bot.outbox.delivery.insert_send)."""
    sync = session.sync_session
    params = {**send, **_rows_params("said", _SAID_COLUMNS, said)}
    started, run_change = take_started(sync, run_change)
    params.update(_rows_params("started", STARTED_COLUMNS, [later.values(_RUNS, run) for run in started]))
    answers = later.take(sync, surveys.RESPONSES)
    params.update(_rows_params("answer", surveys.COLUMNS, answers))
    steps = steplog.take_pending(sync)
    params.update(steplog.row_params(steps))
    run_columns: tuple[str, ...] = ()
    if run_change is not None:
        run, changed = run_change
        run_columns = tuple(sorted(changed))
        params.update(_run_params(changed), run_id=run.id)
    with session.no_autoflush:  # the run is written here, not by the ORM first
        statement = _said_and_sent(len(said), len(steps), run_columns, len(answers), len(started))
        ((item_id, held),) = await plain.execute(session, statement, params)
    for written in ([run_change[0]] if run_change is not None else []) + started:
        plain.written(session, written)
    return item_id, bool(held)


def take_started(session: Session, run_change: RunChange | None) -> tuple[list[ConversationRun], RunChange | None]:
    """The runs started this turn whose rows are still to be inserted (a new customer's first: FlowRuns.start), and
    `run_change` unless it is one of them: such a run is inserted with its values as they are now, not updated."""
    started = later.take(session, _RUNS)
    if run_change is not None and any(run is run_change[0] for run in started):
        run_change = None
    return started, run_change
