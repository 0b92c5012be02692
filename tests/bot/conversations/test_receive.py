"""The receive stage reads the sender as the ORM would, also where it reads straight from the driver."""

from __future__ import annotations

from sqlalchemy import text

from bot.conversations.receive import receive
from bot.core import Core
from bot.customers.models import ChannelIdentity
from bot.messages import Inbound


async def test_a_customer_read_again_in_the_same_transaction_is_the_same_object(core: Core) -> None:
    """As the ORM's own loading does: the sender read from the driver (bot/storage/plain.py) is the session's object
    for that customer when it holds one already, with what the transaction changed on it."""
    await core.engine.handle(Inbound("web", "again-web", text="hi", message_id="a-hi"))
    async with core.db.transaction() as session:
        customer_id = (
            await session.execute(text("SELECT customer_id FROM channel_identities WHERE address = 'again-web'"))
        ).scalar_one()
        session.add(ChannelIdentity(customer_id=customer_id, channel="telegram", address="again-tg"))
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
