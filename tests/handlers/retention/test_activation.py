"""Activation: a customer who signed up and has not `activated` a few days later gets a helping hand (tips, a person);
the nudges stop as soon as they activate. Telegram and the CRM API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.outbox.models import OutboxItem
from bot.retention.kinds import RetentionKind

NUDGE = "you signed up for our service a few days ago"


async def test_an_activation_nudge_comes_after_the_days_without_activation_and_stops_on_activation(
    open_shop: Any,
) -> None:
    async with open_shop() as shop:
        lia, tom = shop.customer(61, "Lia"), shop.customer(62, "Tom")
        # One after the other: two first starts of a flow at once race to store its version on PostgreSQL (the
        # loser is retried later), which is not what this test is about.
        await shop.event("signed_up", "C-61", 61)
        await shop.tick()
        await shop.event("signed_up", "C-62", 62)
        await shop.tick()
        await lia.api.wait_for(lambda: len(lia.messages()) == 2 and len(tom.messages()) == 2)  # the onboarding welcome
        for customer in (lia, tom):  # they answer the welcome's questions, and want no check-ins
            await customer.press("For my work", 1)
            await customer.press("No", 1)
        # Tom activates on day 2: nothing is ever sent to nudge him.
        await shop.tick(days=2)
        await shop.event("activated", "C-62", 62)
        await shop.tick()

        seen = {61: len(lia.messages()), 62: len(tom.messages())}
        await shop.tick(days=3)  # day 5
        nudge = [text for text in lia.messages()[seen[61] :] if NUDGE in text]
        assert len(nudge) == 1 and NUDGE in nudge[0] and "What would help most?" in nudge[0]
        assert not any(NUDGE in text for text in tom.messages())
        tip = await lia.press("A quick tip", 2)
        assert tip[0].startswith("Here's the one step most people start with") and tip[1].startswith("Good luck")

        # Lia activates on day 6: her second nudge (day 12) is cancelled and never arrives.
        await shop.tick(days=1)
        await shop.event("activated", "C-61", 61)
        await shop.tick()
        seen[61] = len(lia.messages())
        await shop.tick(days=7)
        assert not any(NUDGE in text for text in lia.messages()[seen[61] :])
        async with shop.core.db.sessions() as session:
            query = select(OutboxItem.dedupe_key, OutboxItem.status).where(OutboxItem.kind == RetentionKind.FLOW)
            rows = {key.rsplit(":", 1)[1] + "@" + key.split(":")[1]: status
                    for key, status in await session.execute(query)}  # fmt: skip
        lia_id, tom_id = sorted({key.split("@")[1] for key in rows})
        assert rows == {f"1@{lia_id}": "done", f"2@{lia_id}": "cancelled",
                        f"1@{tom_id}": "cancelled", f"2@{tom_id}": "cancelled"}  # fmt: skip
