"""Delivery bookkeeping: replies sent at about the same moment are marked done together."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, select

from bot.core import Core
from bot.messages import Inbound
from bot.outbox.models import DONE, LEASED, OutboxItem


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
