"""The replies to a batch of customers' messages on PostgreSQL (group_commit.py), in one statement at the batch's end:
every turn's transcript rows, step log entries, survey answers recorded, run moved on (or a new customer's first run
started) and outbox row.

Alone, a message's reply is one statement (reply_rows.py), so a batch of N messages was N round trips, each a wake-up
of the bot and a statement for PostgreSQL to run; together they are one, whatever N, of one shape (an array per
column: bot/storage/arrays.py). A turn's rows are taken when it ends: its run, when moving it on is all the turn left
to write, is forgotten by the session as if flushed, and anything else was flushed by the ORM as before.

Nothing in a batch reads another turn's rows: its customers are distinct, but for one writing from two chats at
once, and that customer's second turn writes what was taken so far first (`write_before`), so it finds its run where
the first turn left it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot import transcript
from bot.conversations import steplog
from bot.conversations.models import ConversationRun
from bot.conversations.reply_rows import STARTED_COLUMNS, RunChange, run_change_alone, take_started
from bot.outbox.delivery import SEND_COLUMNS
from bot.outbox.models import OutboxItem
from bot.outbox.rows import EARLIER_UNSENT_SQL
from bot.storage import later, plain
from bot.storage.arrays import array_params, insert_unnested, unnested
from bot.surveys import responses as surveys

_SAID = ("customer_id", "direction", "channel", "platform_message_id", "text", "payload", "created_at")
_STEPS = steplog.COLUMNS
# Every column a turn may change; all are written, whichever changed, so the statement keeps one shape. The run is
# under its customer's lock, so the columns it did not change are written with what they are.
_RUN = ("id", "flow_id", "flow_version", "step_index", "status", "awaiting_answer", "attempts", "answers", "context",
        "resume_at", "updated_at", "ended_at")  # fmt: skip
_RUNS = ConversationRun.__table__


def _statement() -> TextClause:
    said_sql, said_types = insert_unnested(transcript.Message.__table__, _SAID, "said")
    started_sql, started_types = insert_unnested(_RUNS, STARTED_COLUMNS, "started")
    answers_sql, answers_types = insert_unnested(surveys.RESPONSES, surveys.COLUMNS, "answer")
    steps_sql, steps_types = insert_unnested(steplog.StepEntry.__table__, _STEPS, "step")
    runs_source, runs_types = unnested([_RUNS.c[c] for c in _RUN], "run")
    sends_sql, sends_types = insert_unnested(OutboxItem.__table__, SEND_COLUMNS, "send")
    changes = ", ".join(f"{c} = u.{c}" for c in _RUN[1:])
    sql = (
        f"WITH said AS ({said_sql}), started AS ({started_sql}), answers AS ({answers_sql}), steps AS ({steps_sql}), "
        f"runs AS (UPDATE {_RUNS.name} SET {changes} FROM {runs_source} AS u({', '.join(_RUN)}) "
        f"WHERE {_RUNS.name}.id = u.id) "
        # Each send's id and whether an earlier send to its customer is unsent (as delivery.insert_send): the
        # batch's own rows are not seen, so two of one customer's are never in one statement (write_before).
        f"{sends_sql} RETURNING outbox.dedupe_key, outbox.id, {EARLIER_UNSENT_SQL}"
    )
    return text(sql).bindparams(*said_types, *started_types, *answers_types, *steps_types, *runs_types, *sends_types)


_WRITE = _statement()


class ReplyBatch:
    """What the turns of one batch write, taken turn by turn (`add`) and written in one statement (`write`)."""

    def __init__(self) -> None:
        self._said: list[tuple[Any, ...]] = []
        self._steps: list[tuple[Any, ...]] = []
        self._answers: list[tuple[Any, ...]] = []
        self._started: list[tuple[Any, ...]] = []
        self._runs: list[tuple[Any, ...]] = []
        self._sends: list[dict[str, Any]] = []
        self._customers: set[int] = set()
        self.sends = 0  # sends taken so far, written or not: a turn that added one has the next result of `write`
        self._results: list[tuple[int, bool]] = []

    async def add(
        self, session: AsyncSession, customer_id: int, said: list[dict[str, Any]], send: dict[str, Any]
    ) -> None:
        """Take a turn's rows: its replies `said` and their outbox row `send`, its step log entries and survey answers,
        and its run (inserted, for a new customer's first: later.py)."""
        sync = session.sync_session
        found = run_change_alone(session)
        if found is not None and later.is_pending(sync, found[0]):
            pass  # a run this turn started: inserted as it is now, below
        elif found is not None and (run := _run_alone(session, found)) is not None:
            self._runs.append(run)
        else:
            await session.flush()  # the ORM writes what the turn changed, as alone (a run started first: later.py)
        started, _ = take_started(sync, None)
        for made in started:
            values = later.values(_RUNS, made)
            self._started.append(tuple(values[c] for c in STARTED_COLUMNS))
            plain.written(session, made)  # inserted as it is now, with the batch
        self._said += [tuple(row[c] for c in _SAID) for row in said]
        self._steps += steplog.take_pending(session.sync_session)
        answers = later.take(session.sync_session, surveys.RESPONSES)
        self._answers += [tuple(row[c] for c in surveys.COLUMNS) for row in answers]
        self._sends.append(send)
        self._customers.add(customer_id)
        self.sends += 1

    async def write_before(self, session: AsyncSession, customer_id: int) -> None:
        """Before a turn of `customer_id`: what an earlier turn of theirs in this batch took, written now."""
        if customer_id in self._customers:
            await self.write(session)

    async def write(self, session: AsyncSession) -> list[tuple[int, bool]]:
        """Everything taken so far, in one statement; each send taken, in order: its id and whether it is held
        behind an earlier unsent send (as delivery.insert_send)."""
        if self._sends or self._steps or self._said or self._runs or self._answers or self._started:
            params = {
                **array_params("said", _SAID, self._said),
                **array_params("started", STARTED_COLUMNS, self._started),
                **array_params("answer", surveys.COLUMNS, self._answers),
                **array_params("step", _STEPS, self._steps),
                **array_params("run", _RUN, self._runs),
                **array_params("send", SEND_COLUMNS, ([send[c] for c in SEND_COLUMNS] for send in self._sends)),
            }
            with session.no_autoflush:  # the runs are written here, not by the ORM first
                rows = await plain.execute(session, _WRITE, params)
            by_key = {key: (item_id, bool(held)) for key, item_id, held in rows}
            self._results += [by_key[send["dedupe_key"]] for send in self._sends]
            self._said, self._started, self._steps, self._answers, self._runs, self._sends = [], [], [], [], [], []
            self._customers.clear()
        return self._results


def _run_alone(session: AsyncSession, found: RunChange) -> tuple[Any, ...] | None:
    """The values of `_RUN` of the run a turn moved on (`run_change_alone`), when that is all it left to write; the
    session holds the run as written (it is, with the batch); None when the ORM must flush."""
    run = found[0]
    values = inspect(run).dict
    if not all(c in values for c in _RUN):
        return None  # a column not loaded: the ORM writes what changed
    plain.written(session, run)  # written with the batch, as it is now
    return tuple(values[c] for c in _RUN)
