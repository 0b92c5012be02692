"""Delivery bookkeeping: an adapter's send marked done or its failure recorded; replies sent at about the same
moment are marked done together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import event, select

from bot.core import Core
from bot.messages import Inbound, Reply
from bot.outbox.models import DONE, LEASED, PENDING, OutboxItem
from bot.ports import DeliveryError
from bot.transcript import INBOUND, OUTBOUND, Message


async def statuses(core: Core) -> list[str]:
    async with core.db.transaction() as session:
        return list((await session.execute(select(OutboxItem.status).order_by(OutboxItem.id))).scalars())


async def test_replies_sent_together_are_marked_done_in_fewer_transactions(core: Core) -> None:
    deliveries = [await core.engine.handle_for_delivery(Inbound("test", f"chat-{n}", text="hi")) for n in range(6)]
    assert await statuses(core) == [LEASED] * 6
    updates: list[str] = []
    event.listen(
        core.db.engine.sync_engine, "before_cursor_execute",
        lambda _c, _cur, sql, *_a: updates.append(sql) if sql.startswith("UPDATE outbox") else None,
    )  # fmt: skip

    await asyncio.gather(*(core.deliveries.mark_sent(d.outbox_id) for d in deliveries))

    assert await statuses(core) == [DONE] * 6  # every caller returned with its row done
    if core.db.is_sqlite:
        assert len(updates) < 6  # those that queued for the writer together went in one statement


async def test_an_adapters_send_is_marked_done_or_its_failure_recorded_for_the_dispatcher(core: Core) -> None:
    sent: list[list[str]] = []

    async def send(replies: Sequence[Reply]) -> None:
        sent.append([r.text for r in replies])

    async def refused(replies: Sequence[Reply]) -> None:
        raise DeliveryError("platform down", sent=1)

    works = await core.engine.handle_for_delivery(Inbound("test", "chat-1", text="hi"))
    fails = await core.engine.handle_for_delivery(Inbound("test", "chat-2", text="hi"))
    await core.deliveries.deliver(works, send)
    await core.deliveries.deliver(fails, refused)

    assert sent == [[r.text for r in works.replies]]
    assert await statuses(core) == [DONE, PENDING]  # the dispatcher retries what is left
    async with core.db.transaction() as session:
        retried = await session.get(OutboxItem, fails.outbox_id)
        assert retried is not None and retried.last_error == "platform down"
        assert len(retried.payload["replies"]) == len(fails.replies) - 1  # the reply that went out is not sent again


async def test_replies_held_behind_earlier_ones_are_not_sent_by_the_adapter(core: Core) -> None:
    sent: list[int] = []

    async def send(replies: Sequence[Reply]) -> None:
        sent.append(len(replies))

    first = await core.engine.handle_for_delivery(Inbound("test", "chat-1", text="hi"))
    second = await core.engine.handle_for_delivery(Inbound("test", "chat-1", text="hello"))
    assert second.held

    await core.deliveries.deliver(second, send)
    assert sent == [] and await statuses(core) == [LEASED, PENDING]  # the dispatcher sends it, after the first
    await core.deliveries.deliver(first, send)
    assert sent == [len(first.replies)] and await statuses(core) == [DONE, PENDING]


async def test_a_message_delivered_again_whose_reply_never_went_is_answered_at_once(core: Core) -> None:
    """The database went away as the message's transaction committed: the adapter saw an error and sent nothing,
    though the message and its reply row were stored. When the platform delivers the message again it is a
    duplicate, and its reply, still leased to the attempt that gave up, goes now instead of after the lease."""
    sent: list[str] = []

    class Recorder:
        name = "test"

        async def send(self, ref: object, replies: Sequence[Reply]) -> None:
            sent.extend(r.text for r in replies)

    core.add_channel(Recorder())
    message = Inbound("test", "chat-1", text="hi", message_id="u7")
    first = await core.engine.handle_for_delivery(message)  # stored; its adapter never sends or reports
    await core.dispatcher.drain()
    assert sent == [] and await statuses(core) == [LEASED]

    again = await core.engine.handle_for_delivery(message)
    assert again.duplicate and again.replies == ()
    await core.dispatcher.drain()
    assert sent == [r.text for r in first.replies]  # once, without waiting for the lease to run out
    assert await statuses(core) == [DONE]


async def test_a_push_reply_is_in_the_transcript_and_its_outbox_row_alike(core: Core) -> None:
    """The replies of a message for a push channel are written twice (PostgreSQL: in one statement): the transcript
    the web console shows, and the row the adapter sends. Both hold every reply, in order, after the message."""
    delivery = await core.engine.handle_for_delivery(Inbound("test", "chat-1", text="hi", message_id="m1"))
    assert len(delivery.replies) >= 2  # the welcome and onboarding's first question
    async with core.db.transaction() as session:
        said = (await session.execute(select(Message.direction, Message.text).order_by(Message.id))).all()
        row = (await session.execute(select(OutboxItem))).scalar_one()
    texts = [r.text for r in delivery.replies]
    assert said == [(INBOUND, "hi"), *((OUTBOUND, t) for t in texts)]
    assert [r["text"] for r in row.payload["replies"]] == texts
    assert (row.id, row.status) == (delivery.outbox_id, LEASED)


async def test_background_jobs_wait_while_a_message_is_answered_and_its_replies_sent(core: Core) -> None:
    """The scheduler's gate (Core: `engine.in_flight`) holds a job back during a message's turn and the send of its
    replies, so that the job's work does not delay the customer's answer."""
    in_flight = core.engine.in_flight
    turn = asyncio.create_task(core.engine.handle_for_delivery(Inbound("test", "chat-1", text="hi")))
    await asyncio.sleep(0)  # the turn's first step: it waits for the database now
    job = asyncio.create_task(in_flight.quiet(30))
    delivery = await turn
    seen: list[bool] = []

    async def send(replies: Sequence[Reply]) -> None:
        seen.append(in_flight.busy and not job.done())

    await core.deliveries.deliver(delivery, send)
    assert seen == [True]
    await asyncio.wait_for(job, timeout=10)  # the gate opened with the send done, well before its bound
    assert not in_flight.busy
