"""The receive stage reads the sender as the ORM would, also where it reads straight from the driver; one customer on
two chats."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from bot.conversations.receive import receive
from bot.core import Core
from bot.customers.models import ChannelIdentity
from bot.messages import Inbound


async def one_customer_on_two_chats(core: Core, web: str, telegram: str) -> int:
    """A customer who wrote on the web chat `web` and whose Telegram chat `telegram` is joined to them; their id."""
    await core.engine.handle(Inbound("web", web, text="hi", message_id=f"{web}-hi"))
    async with core.db.transaction() as session:
        query = text("SELECT customer_id FROM channel_identities WHERE address = :web")
        customer_id = int((await session.execute(query, {"web": web})).scalar_one())
        session.add(ChannelIdentity(customer_id=customer_id, channel="telegram", address=telegram))
    return customer_id


async def test_a_customer_read_again_in_the_same_transaction_is_the_same_object(core: Core) -> None:
    """As the ORM's own loading does: the sender read from the driver (bot/storage/plain.py) is the session's object
    for that customer when it holds one already, with what the transaction changed on it."""
    await one_customer_on_two_chats(core, "again-web", "again-tg")
    now = core.clock.now()
    async with core.db.transaction() as session:
        first = await receive(session, Inbound("web", "again-web", text="one", message_id="a-1"), now,
                              default_tier="standard", check_seen=False)  # fmt: skip
        assert first is not None
        first.customer.display_name = "Changed in this transaction"
        second = await receive(session, Inbound("telegram", "again-tg", text="two", message_id="a-2"), now,
                               default_tier="standard", check_seen=False)  # fmt: skip
    assert second is not None and second.customer is first.customer
    assert second.customer.display_name == "Changed in this transaction"


async def test_one_customer_writing_from_two_chats_at_once_is_one_customer_answered_on_both(core: Core) -> None:
    """Both chats' messages can share a batch, each reading the customer for itself."""
    customer_id = await one_customer_on_two_chats(core, "both-web", "both-tg")
    others = [Inbound("web", f"o{n}", text="hi", message_id=f"o{n}-hi") for n in range(6)]
    pair = [
        Inbound("web", "both-web", text="/nps", message_id="w-nps"),
        Inbound("telegram", "both-tg", text="menu", message_id="t-menu"),
    ]
    answers = await asyncio.gather(*(core.engine.handle(m) for m in [*others, *pair]))

    assert all(answers)  # everyone answered, both chats of the one customer too
    async with core.db.transaction() as session:
        owners = (
            (
                await session.execute(
                    text("SELECT DISTINCT customer_id FROM messages WHERE platform_message_id IN ('w-nps', 't-menu')")
                )
            )
            .scalars()
            .all()
        )
    assert owners == [customer_id]
