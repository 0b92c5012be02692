"""Writing the transcript: the one place where every writer (the conversation engine, staff replies on tickets,
campaign messages as they are cleared for sending) records a message."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Inbound, Reply, reply_to_dict
from bot.storage import plain
from bot.storage.dialects import dialect_of
from bot.transcript.models import INBOUND, OUTBOUND, Message

MAX_STORED_TEXT = 65536  # longer inbound text is cut when stored, so one message cannot bloat the DB
_CHOICE_SIZE = 200
_MEDIA_REF_SIZE = 500
_ROWS_ONE_BY_ONE = 8  # outbound rows a SQLite turn writes as plain statements, not an executemany

# Plain rows, not the ORM's unit of work, which cost more than a millisecond of Python per message
# (bench/bench_inbound.py --profile). Built once, as it runs for every message.
_INSERT_MESSAGES = insert(Message.__table__)


@dataclass(frozen=True, slots=True)
class Outbound:
    """Replies said to one customer on one channel; `ticket_ref` marks a staff reply on that ticket."""

    customer_id: int
    channel: str
    replies: Sequence[Reply]
    ticket_ref: str | None = None


async def record_inbound(
    session: AsyncSession, customer_id: int, inbound: Inbound, now: datetime, *, pressed: str | None = None
) -> None:
    """What the customer sent, stored before it is answered (its platform id catches a duplicate delivery). A pressed
    button is stored with its label as the text (`pressed`), so every transcript shows what the customer chose, and
    its value in the payload."""
    row = {"customer_id": customer_id, **inbound_row(inbound, now, pressed=pressed)}
    await plain.execute(session, _INSERT_MESSAGES, row)


def inbound_row(inbound: Inbound, now: datetime, *, pressed: str | None = None) -> dict[str, Any]:
    """The columns of an inbound message's row in `messages`, but its customer_id."""
    payload: dict[str, Any] = {}
    if inbound.choice:
        payload["choice"] = inbound.choice[:_CHOICE_SIZE]
    if inbound.media:
        payload["media"] = {"kind": inbound.media.kind, "ref": inbound.media.ref[:_MEDIA_REF_SIZE]}
    if inbound.text and len(inbound.text) > MAX_STORED_TEXT:
        payload["truncated_from"] = len(inbound.text)
    return {
        "direction": INBOUND, "channel": inbound.channel, "platform_message_id": inbound.message_id,
        "text": (inbound.text or pressed or "")[:MAX_STORED_TEXT] or None, "payload": payload, "created_at": now,
    }  # fmt: skip


async def record_outbound(
    session: AsyncSession, customer_id: int, channel: str, replies: Sequence[Reply], now: datetime,
    *, ticket_ref: str | None = None,
) -> None:  # fmt: skip
    """What the bot (or a person through it) said to one customer."""
    await record_outbound_many(session, (Outbound(customer_id, channel, replies, ticket_ref),), now)


async def record_outbound_many(session: AsyncSession, said: Iterable[Outbound], now: datetime) -> None:
    """What was said to many customers at once (a group of campaign messages): one statement."""
    rows = [row for out in said for row in outbound_rows(out, now)]
    if len(rows) == 1 or (dialect_of(session) == "sqlite" and len(rows) <= _ROWS_ONE_BY_ONE):
        # A row as one statement: a list, even of one, goes through the driver's executemany, which cost three times
        # the plain insert on PostgreSQL (bench/bench_inbound.py --profile). On SQLite, where a statement is no round
        # trip, a turn's few replies too (a new customer's welcome and first question): SQLAlchemy's executemany cost
        # more than the inserts.
        for row in rows:
            await plain.execute(session, _INSERT_MESSAGES, row)
    elif rows:
        await session.execute(_INSERT_MESSAGES, rows)


def outbound_rows(out: Outbound, now: datetime) -> list[dict[str, Any]]:
    """The transcript rows of what was said to one customer (columns of `messages`)."""
    return [
        {"customer_id": out.customer_id, "direction": OUTBOUND, "channel": out.channel, "platform_message_id": None,
         "text": reply.text, "payload": _outbound_payload(reply, out.ticket_ref), "created_at": now}
        for reply in out.replies
    ]  # fmt: skip


def _outbound_payload(reply: Reply, ticket_ref: str | None) -> dict[str, Any]:
    payload = reply_to_dict(reply)
    if ticket_ref is not None:
        payload["ticket"] = ticket_ref  # the web chat shows which ticket a staff reply is about
    return payload
