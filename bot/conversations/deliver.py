"""The deliver stage: the replies of a turn into the transcript (bot/transcript/) and into an outbox row, leased
to the adapter that sends them now (push channels) or queued for the dispatcher (a turn without an inbound)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, transcript
from bot.conversations import steplog
from bot.conversations.reply_batch import ReplyBatch
from bot.conversations.reply_rows import insert_said_and_sent, run_change_alone, write_run_change
from bot.conversations.turn import Turn
from bot.customers import records as customers
from bot.messages import Inbound
from bot.outbox.delivery import INLINE_LEASE, Delivery, insert_send
from bot.outbox.models import LEASED, PENDING, OutboxItem
from bot.storage.dialects import dialect_of

_DEDUPE_KEY_SIZE = 200
# The reply's outbox row is written as a plain row, not through the ORM's unit of work, which cost more than a
# millisecond of Python per message (bench/bench_inbound.py --profile). Built once, as it runs for every message.
_QUEUE_OUTBOX = (
    update(OutboxItem.__table__)
    .where(OutboxItem.__table__.c.id == bindparam("item_id"))
    .values(status=PENDING, lease_until=None)
)


async def record_replies(turn: Turn, channel: str) -> None:
    """The replies to the transcript."""
    await transcript.record_outbound(turn.session, turn.customer.id, channel, turn.replies, turn.now)


async def answer_inbound(turn: Turn, inbound: Inbound, *, push: bool, batch: ReplyBatch | None = None) -> Delivery:
    """The replies to a customer's message: recorded, and for a push channel also an outbox row leased to the
    caller, which sends them and reports back (if it dies first, the lease runs out and the dispatcher sends).

    `batch` (PostgreSQL): the rows are taken into it, written with the rest of the batch; the Delivery returned
    has no outbox row yet (`settled` gives it the one written)."""
    session = turn.session
    if not push or not turn.replies:
        await save_changes(session)
        await record_replies(turn, inbound.channel)
        return Delivery(tuple(turn.replies))
    item = {
        "kind": outbox.SEND, "customer_id": turn.customer.id, "proactive": False, "status": LEASED, "attempts": 1,
        "dedupe_key": reply_key(inbound),
        "payload": outbox.send_payload(inbound.ref, turn.replies), "due_at": turn.now,
        "lease_until": turn.now + INLINE_LEASE, "created_at": turn.now,
    }  # fmt: skip
    if dialect_of(session) == "postgresql":
        said = transcript.outbound_rows(transcript.Outbound(turn.customer.id, inbound.channel, turn.replies), turn.now)
        if batch is not None:
            await batch.add(session, turn.customer.id, said, item)
            return Delivery(tuple(turn.replies))
        run_change = run_change_alone(session)  # written with the reply's rows, else flushed first
        if run_change is None:
            await session.flush()
        item_id, held = await insert_said_and_sent(session, said, item, run_change)
    else:
        await save_changes(session)
        await record_replies(turn, inbound.channel)
        item_id, held = await insert_send(session, item)
    return await settled(session, Delivery(tuple(turn.replies)), item_id, held)


async def settled(session: AsyncSession, delivery: Delivery, item_id: int, held: bool) -> Delivery:
    """The delivery with its outbox row; one held behind earlier undelivered replies is queued for the dispatcher,
    which sends in order."""
    if held:
        await session.execute(_QUEUE_OUTBOX, {"item_id": item_id})
    return replace(delivery, outbox_id=item_id, held=held)


async def save_changes(session: AsyncSession) -> None:
    """The turn's changes written before its replies' rows: a run moved on, when that is all, as a plain UPDATE
    (reply_rows.py), else by the ORM's flush; and its step log entries so far (steplog.py)."""
    run_change = run_change_alone(session)
    if run_change is None:
        await session.flush()
    else:
        await write_run_change(session, run_change)
    await steplog.write_pending(session)


def reply_key(inbound: Inbound) -> str:
    return f"reply:{inbound.channel}:{inbound.message_id or uuid.uuid4().hex}"[:_DEDUPE_KEY_SIZE]


async def release_unsent_reply(session: AsyncSession, inbound: Inbound, now: datetime) -> bool:
    """A message delivered again whose reply row is still leased to the attempt that stored it: that attempt's
    adapter saw its commit fail (the database went away as it committed, yet the commit went through) and sent
    nothing, and the platform delivers the message again. The row is queued for the dispatcher now, instead of
    waiting for the lease to run out: a minute of silence for the customer. True when there was such a row."""
    if not inbound.message_id:
        return False
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.dedupe_key == reply_key(inbound), OutboxItem.status == LEASED, OutboxItem.lease_until > now)
        .values(status=PENDING, lease_until=None, due_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def deliver_proactively(turn: Turn, key: str) -> None:
    """Record replies made without an inbound message and queue them for sending."""
    if not turn.replies:
        return
    ref = await customers.preferred_ref(turn.session, turn.customer.id)
    if ref is None:
        return
    await record_replies(turn, ref.channel)
    await outbox.enqueue_send(
        turn.session, customer_id=turn.customer.id, ref=ref, replies=turn.replies,
        dedupe_key=f"send:{key}", due_at=turn.now, proactive=False,
    )  # fmt: skip
