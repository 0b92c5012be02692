"""A reply to a customer's message on PostgreSQL: its transcript rows, the turn's step log entries and its outbox
row in one statement.

Three INSERTs were three round trips and executions per message; data-modifying CTEs write them at once. Their
rows are not visible to the outer INSERT's RETURNING, which only looks at earlier outbox rows. SQLite has no
INSERT in a WITH clause (and no round trips to save): it writes the two rows apart (deliver.py)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BindParameter, TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot import transcript
from bot.conversations import steplog
from bot.outbox.delivery import INSERT_SEND_SQL, SEND_TYPES, send_params

_MESSAGES = transcript.Message.__table__
_SAID_COLUMNS = ("customer_id", "direction", "channel", "platform_message_id", "text", "payload", "created_at")


@functools.cache
def _said_and_sent(count: int, steps: int) -> TextClause:
    """`count` transcript rows, `steps` step log rows and the outbox row, built once per count (a turn has a reply
    or a few, and logs none to a few steps)."""
    rows = ", ".join("(" + ", ".join(f":said_{c}_{n}" for c in _SAID_COLUMNS) + ")" for n in range(count))
    said_types = (bindparam(f"said_{c}_{n}", type_=_MESSAGES.c[c].type) for n in range(count) for c in _SAID_COLUMNS)
    sql = f"WITH said AS (INSERT INTO {_MESSAGES.name} ({', '.join(_SAID_COLUMNS)}) VALUES {rows}) "
    step_types: tuple[BindParameter[Any], ...] = ()
    if steps:
        step_sql, step_types = steplog.insert_rows(steps)
        sql += f", steps AS ({step_sql}) "
    return text(sql + INSERT_SEND_SQL).bindparams(*said_types, *step_types, *SEND_TYPES)


async def insert_said_and_sent(
    session: AsyncSession, said: list[dict[str, Any]], send: dict[str, Any]
) -> tuple[int, bool]:
    """Insert the transcript rows `said`, the step log's entries so far and the send row `send`: its id, and whether
    earlier sends to its customer are unsent (as bot.outbox.delivery.insert_send)."""
    params = send_params(send)
    for n, row in enumerate(said):
        params.update({f"said_{c}_{n}": row[c] for c in _SAID_COLUMNS})
    steps = steplog.take_pending(session.sync_session)
    params.update(steplog.row_params(steps))
    item_id, held = (await session.execute(_said_and_sent(len(said), len(steps)), params)).one()
    return item_id, bool(held)
