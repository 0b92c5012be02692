"""The senders of a batch of messages on PostgreSQL (group_commit.py): found, locked in the order of their ids,
read with their open runs, and their messages stored, in one statement at the batch's start.

Each message of a batch read its sender with a statement of its own (receive.py), after one that locked the
batch's senders in order: a batch of N was N + 1 round trips; now it is one. The rows become the session's objects
only when their message's turn comes (`take`), as a load would make them.

Each customer's runs are read after their lock, by a function with a snapshot of its own (migration 0018): read in
the statement itself, a statement that waited for the lock got the runs as they were before the work it waited for
(PostgreSQL reads every table but the locked row from the statement's snapshot), and its turn answered a question
already closed and wrote over what that work did. A message alone is read the same way, as a batch of one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from bot import transcript
from bot.conversations.models import OPEN_STATUSES, ConversationRun
from bot.customers.models import ChannelIdentity, Customer
from bot.messages import Inbound
from bot.storage import plain
from bot.storage.arrays import array_params, one_row, unnested

# Where each entity's columns are in a row of the statement, by attribute.
CUSTOMER_KEYS = tuple(Customer.__mapper__.columns.keys())
RUN_KEYS = tuple(ConversationRun.__mapper__.columns.keys())


@dataclass(frozen=True, slots=True)
class KnownSender:
    """A message's sender read, locked, with its message stored or not, before its turn (a batch's, or one alone);
    `NOBODY` for a chat nobody is behind yet."""

    customer: Customer | None
    last_used: datetime | None  # when their chat was last used
    open_runs: list[ConversationRun] | None  # None: not read (the turn's looks query them)
    stored: bool  # the message is stored


NOBODY = KnownSender(None, None, None, stored=False)


def stores_with_sender(inbound: Inbound) -> bool:
    """Whether a message may be stored with its sender's read: not a pressed button's, whose label is looked up."""
    return not (inbound.choice and not inbound.text)


_QUOTE = postgresql.dialect().identifier_preparer.quote
_IDENTITIES = ChannelIdentity.__table__
_MESSAGES = transcript.Message.__table__
_CHAT = ("channel", "address")
# A message to store: its chat, and the columns of its row but the customer's id, which the chat gives.
_STORED = ("channel", "address", "direction", "platform_message_id", "text", "payload", "created_at")
_LAST_USED = len(CUSTOMER_KEYS)  # where a row's chat columns start: when it was last used, its channel, its address
_RUN_AT = _LAST_USED + 3


def _statement(rows: Callable[..., tuple[str, tuple[BindParameter[Any], ...]]], *, storing: bool = True) -> TextClause:
    """The statement for any number of chats (`rows` = arrays.unnested) or for one (arrays.one_row), and storing
    their messages or not."""
    customers, identities = Customer.__tablename__, _IDENTITIES.name
    open_statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    chats, chat_types = rows([_IDENTITIES.c[c] for c in _CHAT], "chat")
    messages, message_types = rows([(_IDENTITIES.c if c in _CHAT else _MESSAGES.c)[c] for c in _STORED], "msg")
    stored = [c for c in _STORED if c != "address"]
    chat_columns = [f"{identities}.{c} AS chat_{c}" for c in ("last_used_at", *_CHAT)]
    customer_columns = [f"{customers}.{_QUOTE(c.name)}" for c in Customer.__mapper__.columns]
    columns = [
        *(f"locked.{_QUOTE(c.name)}" for c in Customer.__mapper__.columns),
        *(f"locked.chat_{c}" for c in ("last_used_at", *_CHAT)),
        *(f"runs.{_QUOTE(c.name)}" for c in ConversationRun.__mapper__.columns),
    ]
    # Not read by the query, so run once it is done: each message's id is drawn after its sender's lock, as when it
    # was stored apart. A chat nobody is behind yet stores nothing here (its customer is made first).
    storing_cte = (
        f"stored AS (INSERT INTO {_MESSAGES.name} (customer_id, {', '.join(stored)}) "
        f"SELECT {identities}.customer_id, {', '.join('u.' + c for c in stored)} "
        f"FROM {messages} AS u({', '.join(_STORED)}) "
        f"JOIN {identities} ON {identities}.channel = u.channel AND {identities}.address = u.address), "
    )
    sql = (
        f"WITH {storing_cte if storing else ''}"
        f"locked AS MATERIALIZED (SELECT {', '.join([*customer_columns, *chat_columns])} FROM {customers} "
        f"JOIN {identities} ON {identities}.customer_id = {customers}.id "
        f"WHERE ({identities}.channel, {identities}.address) IN (SELECT * FROM {chats} AS chat) "
        # Locked in the order of their ids, as outreach's clearing and campaign planning lock customers: two
        # transactions taking them in different orders could each wait for the other (a deadlock).
        f"ORDER BY {customers}.id FOR UPDATE OF {customers}) "
        # Called for each customer once they are locked: their runs as they are then (the module's docstring).
        f"SELECT {', '.join(columns)} FROM locked "
        f"LEFT JOIN LATERAL engagebot_open_runs(locked.id, ARRAY[{open_statuses}]) AS runs ON true "
        f"ORDER BY locked.id, runs.id DESC"
    )
    return (
        text(sql)
        .bindparams(*chat_types, *(message_types if storing else ()))
        .columns(*Customer.__mapper__.columns, *(_IDENTITIES.c[c] for c in ("last_used_at", *_CHAT)),
                 *ConversationRun.__mapper__.columns)
    )  # fmt: skip


_READ = _statement(unnested)
# A message alone (receive.py): the same for one chat, its parameters plain values.
_READ_ONE = _statement(one_row)
_READ_ONE_NOT_STORING = _statement(one_row, storing=False)


class BatchSenders:
    """The batch's senders as read; `take` each message's in turn."""

    def __init__(self, rows: Sequence[tuple[Any, ...]], stored: set[tuple[str, str]]):
        self._rows: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for row in rows:
            self._rows.setdefault((row[_LAST_USED + 1], row[_LAST_USED + 2]), []).append(row)
        self._stored = stored

    def take(self, session: AsyncSession, inbound: Inbound, seen: set[int]) -> KnownSender:
        """The sender of `inbound` as the session's objects; NOBODY for a chat nobody is behind yet (receive.py
        makes them, without looking for them again). `seen`: the customers of the batch's turns so far. A customer
        seen already (writing from two chats at once) gets no runs: their turn reads them as the earlier turn left
        them."""
        rows = self._rows.get((inbound.channel, inbound.address))
        if not rows:
            return NOBODY
        sync = session.sync_session
        customer = plain.as_loaded(sync, Customer, dict(zip(CUSTOMER_KEYS, rows[0][:_LAST_USED], strict=True)))
        runs: list[ConversationRun] | None = None
        if customer.id not in seen:
            runs = [
                plain.as_loaded(sync, ConversationRun, dict(zip(RUN_KEYS, row[_RUN_AT:], strict=True)))
                for row in rows
                if row[_RUN_AT] is not None
            ]
        seen.add(customer.id)
        stored = (inbound.channel, inbound.address) in self._stored
        return KnownSender(customer, rows[0][_LAST_USED], runs, stored)


async def read_senders(
    session: AsyncSession, inbounds: Sequence[Inbound], now: datetime, *, store: bool = True
) -> BatchSenders:
    """Lock and read the senders of `inbounds` (distinct chats) and, with `store`, store their messages but pressed
    buttons'."""
    storing = [inbound for inbound in inbounds if store and stores_with_sender(inbound)]
    rows_to_store = [{"address": inbound.address, **transcript.inbound_row(inbound, now)} for inbound in storing]
    if len(inbounds) == 1:
        (inbound,) = inbounds
        statement = _READ_ONE if storing else _READ_ONE_NOT_STORING
        params = {"chat_channel": inbound.channel, "chat_address": inbound.address}
        params.update((f"msg_{c}", row[c]) for row in rows_to_store for c in _STORED)
    else:
        statement = _READ
        params = {
            **array_params("chat", _CHAT, ((inbound.channel, inbound.address) for inbound in inbounds)),
            **array_params("msg", _STORED, ([row[c] for c in _STORED] for row in rows_to_store)),
        }
    rows = await plain.read(session, statement, params)
    if rows is None:  # the transaction's BEGIN could not be sent straight (plain.py): through the session
        rows = [tuple(row) for row in (await session.execute(statement, params)).all()]
    return BatchSenders(rows, {(inbound.channel, inbound.address) for inbound in storing})
