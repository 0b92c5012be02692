"""The receive stage: clean what an adapter hands over, identify the customer (or create them, or join a chat to
them by a link code), recognise a duplicate delivery, and store the message before anything answers it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import transcript
from bot.conversations.models import OPEN_STATUSES, ConversationRun
from bot.conversations.senders import CUSTOMER_KEYS, RUN_KEYS, KnownSender, read_senders
from bot.customers import links
from bot.customers import records as customers
from bot.customers.models import ChannelIdentity, Customer
from bot.messages import Inbound, Media
from bot.storage import plain
from bot.storage.dialects import dialect_of

log = logging.getLogger(__name__)

_NAME_SIZE = 200
_LANGUAGE_SIZE = 16
# C0 control characters (bar tab, newline, carriage return) and DEL are dropped from what customers send.
_CONTROL_CHARS = dict.fromkeys([*(c for c in range(32) if chr(c) not in "\t\n\r"), 0x7F])
# The sender (locked), when their chat was last used, and their open runs (normally one or none): one statement,
# where the route stage's look for the run in the foreground (FlowRuns.active), a flow's start's look for the flow's
# runs left open, and a flow's end's look for one set aside (interrupted.py) were one more each (Turn.open_runs).
# SQLite's: its transaction holds the database's write lock before it reads. PostgreSQL reads the runs after the
# row lock, and stores the message with them (senders.py).
_OPEN = or_(*(ConversationRun.status == status for status in OPEN_STATUSES))  # no IN list: plain.py takes it
_SENDER_AND_RUNS = (
    customers.SENDER.outerjoin(ConversationRun, and_(ConversationRun.customer_id == Customer.id, _OPEN))
    .add_columns(ConversationRun)
    .order_by(ConversationRun.id.desc())
)
_MESSAGES = transcript.Message.__table__
_ROW_COLUMNS = ("direction", "channel", "platform_message_id", "text", "payload", "created_at")


def _made_storing() -> Select[tuple[int, int, int]]:
    """PostgreSQL: a customer made, their chat and their first message in one statement, where three followed each
    other. The rows are `plain.row_of` a new Customer's (`c_` parameters) and ChannelIdentity's (`i_`), and the
    message's (`in_`: transcript.inbound_row); it returns the customer's id, the chat's and their first run's."""
    made = _values_cte(Customer.__table__, "c_", "made")
    identities = ChannelIdentity.__table__
    chat_columns = [c for c in identities.columns if not c.primary_key and c.key != "customer_id"]
    chat = (
        insert(identities)
        .from_select(
            ["customer_id", *(c.key for c in chat_columns)],
            select(made.c.id, *(bindparam(f"i_{c.key}", type_=c.type) for c in chat_columns)),
        )
        .returning(identities.c.id)
        .cte("chat")
    )
    stored = (
        insert(_MESSAGES)
        .from_select(
            ["customer_id", *_ROW_COLUMNS],
            select(made.c.id, *(bindparam(f"in_{c}", type_=_MESSAGES.c[c].type) for c in _ROW_COLUMNS)),
        )
        .cte("stored")
    )
    # An id for the first run the turn starts, so that its row can go with the replies' statement (later.py).
    first_run_id = func.nextval(func.pg_get_serial_sequence(ConversationRun.__tablename__, "id"))
    return select(made.c.id, chat.c.id, first_run_id).add_cte(stored)


def _values_cte(table: Any, prefix: str, name: str) -> Any:
    values = {c.key: bindparam(f"{prefix}{c.key}", type_=c.type) for c in table.columns if not c.primary_key}
    return insert(table).values(values).returning(table.c.id).cte(name)


_MADE_STORING = _made_storing()
_RUN_AT = len(CUSTOMER_KEYS) + 1  # in a row of _SENDER_AND_RUNS: after the customer's columns and their chat's last use
assert list(_SENDER_AND_RUNS.selected_columns) == [
    *Customer.__mapper__.columns,
    ChannelIdentity.__table__.c.last_used_at,
    *ConversationRun.__mapper__.columns,
]


@dataclass(frozen=True, slots=True)
class Received:
    """The customer a stored message is from, locked for this transaction; `is_new` when it made them;
    `open_runs` read with them, none for a customer it made (None when not read: a chat joined by a link code)."""

    customer: Customer
    is_new: bool
    open_runs: list[ConversationRun] | None = None
    first_run_id: int | None = None  # drawn for the first run of a customer made (PostgreSQL)


def clean_inbound(inbound: Inbound) -> Inbound:
    """Every text an adapter hands over, cleaned once, before it is stored, matched or echoed."""
    media = inbound.media
    if media is not None:
        media = Media(_clean_text(media.kind), _clean_text(media.ref), _clean_text(media.caption))
    return replace(
        inbound, channel=_clean_text(inbound.channel), address=_clean_text(inbound.address),
        text=_clean_optional(inbound.text), choice=_clean_optional(inbound.choice), media=media,
        message_id=_clean_optional(inbound.message_id), display_name=_clean_optional(inbound.display_name),
        language=_clean_optional(inbound.language), start_payload=_clean_optional(inbound.start_payload),
    )  # fmt: skip


async def receive(
    session: AsyncSession, inbound: Inbound, now: datetime, *, default_tier: str, check_seen: bool,
    known: KnownSender | None = None,
) -> Received | None:  # fmt: skip
    """The sender found (or made) and locked, and the message stored; None for a duplicate delivery.

    `check_seen` looks for the message id first; without it a duplicate is caught when the message is stored,
    by the unique platform id (IntegrityError: the caller tries once more, checking). `known`: the sender as read
    already (with the other messages of a batch), when the chat has one."""
    if known is None and dialect_of(session) == "postgresql":
        # As a batch of one: stored with the read unless the duplicate check must come first (or a pressed button's
        # label is looked up).
        known = (await read_senders(session, [inbound], now, store=not check_seen)).take(session, inbound, set())
    if known is not None:
        customer, last_used, open_runs = known.customer, known.last_used, known.open_runs
        store_with_read = known.stored
    else:
        # Found in one statement with their runs (SQLite: the write lock is the transaction's already).
        params = {"channel": inbound.ref.channel, "address": inbound.ref.address}
        customer, last_used, open_runs = await _sender_and_runs(session, params)
        store_with_read = False
    locked = customer is not None
    if customer is None and inbound.start_payload:
        # A deep link carrying a link code: this chat joins a customer we already know.
        customer = await links.redeem(session, inbound.start_payload, inbound.ref, now)
    is_new = customer is None
    stored = store_with_read and locked
    first_run_id = None
    if customer is None:
        open_runs = []  # a customer made now has no runs: the turn need not look
        name, language = _clip(inbound.display_name, _NAME_SIZE), _clip(inbound.language, _LANGUAGE_SIZE)
        if dialect_of(session) == "postgresql" and not check_seen:
            customer, first_run_id = await _make_storing(session, inbound, now, name, language, default_tier)
            stored = True
        else:
            customer = await customers.create_with_identity(
                session, inbound.ref, now, display_name=name, language=language, tier=default_tier
            )
    else:
        if not locked:
            customer = await customers.lock(session, customer.id)
        await customers.touch_identity(session, inbound.ref, now, last_used)
    if check_seen and inbound.message_id:
        if await transcript.already_stored(session, inbound.channel, inbound.message_id):
            log.info("duplicate delivery ignored: %s %s", inbound.channel, inbound.message_id)
            return None
    if customers.is_stale(customer.last_seen_at, now):
        customer.last_seen_at = now
    if customers.is_stale(customer.last_active_at, now):
        customer.last_active_at = now
    if customer.unreachable:
        # They wrote to us, so they can be reached again. Set only when it changes: any assignment marks the
        # customer changed, and a flush of a changed object costs the ORM's unit of work even when nothing differs.
        customer.unreachable = False
    if inbound.display_name and not customer.display_name:
        customer.display_name = _clip(inbound.display_name, _NAME_SIZE)
    pressed = None
    if inbound.choice and not inbound.text and not is_new:
        # The label the customer saw on the button, from the message that carried it (none for a forged one).
        button = await transcript.offered_button(session, customer.id, inbound.choice)
        pressed = button["label"] if button is not None else None
    if not stored:
        await transcript.record_inbound(session, customer.id, inbound, now, pressed=pressed)
    return Received(customer, is_new, open_runs, first_run_id)


async def _make_storing(
    session: AsyncSession, inbound: Inbound, now: datetime, name: str | None, language: str | None, tier: str
) -> tuple[Customer, int]:
    """`customers.create_with_identity` and the message stored, in one statement (PostgreSQL: _MADE_STORING); and
    the id drawn for their first run."""
    customer = customers.new_customer(now, display_name=name, language=language, tier=tier)
    identity = customers.new_identity(inbound.ref, now)
    params = {f"c_{key}": value for key, value in plain.row_of(customer).items()}
    params.update((f"i_{key}", value) for key, value in plain.row_of(identity).items() if key != "customer_id")
    params.update((f"in_{key}", value) for key, value in transcript.inbound_row(inbound, now).items())
    ((customer_id, identity_id, first_run_id),) = await plain.execute(session, _MADE_STORING, params)
    plain.adopt(session, customer, customer_id)
    identity.customer_id = customer_id
    plain.adopt(session, identity, identity_id)
    return customer, first_run_id


async def _sender_and_runs(
    session: AsyncSession, params: dict[str, Any]
) -> tuple[Customer | None, datetime | None, list[ConversationRun] | None]:
    """The sender, when their chat was last used and their open runs (None, None, None for a chat we do not know).

    Read straight from the driver where it can (bot/storage/plain.py), the customer and the runs made into the
    session's objects here: through the session, the statement and the ORM's loading of its rows cost twice what
    the database took. The session's own objects are kept where it has them already, as its loading would."""
    rows = await plain.read(session, _SENDER_AND_RUNS, params)
    if rows is None:  # through the session: its entities
        loaded = (await session.execute(_SENDER_AND_RUNS, params)).all()
        if not loaded:
            return None, None, None
        return loaded[0][0], loaded[0][1], [row[2] for row in loaded if row[2] is not None]
    if not rows:
        return None, None, None
    sync = session.sync_session
    customer = plain.as_loaded(sync, Customer, dict(zip(CUSTOMER_KEYS, rows[0][: len(CUSTOMER_KEYS)], strict=True)))
    runs = [
        plain.as_loaded(sync, ConversationRun, dict(zip(RUN_KEYS, row[_RUN_AT:], strict=True)))
        for row in rows
        if row[_RUN_AT] is not None
    ]
    return customer, rows[0][len(CUSTOMER_KEYS)], runs


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


def _clean_text(text: str) -> str:
    """`text` as it can be stored and matched: PostgreSQL refuses NUL in text and neither database
    nor any encoder takes a lone surrogate, so a paired surrogate becomes its character, a lone one
    U+FFFD, and NUL and the other control characters (bar tab and line breaks) are dropped."""
    if text.isprintable():
        return text  # the common case: nothing to do
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return joined.translate(_CONTROL_CHARS)


def _clean_optional(text: str | None) -> str | None:
    return _clean_text(text) if text else text
