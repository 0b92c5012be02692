"""Cross-sell with restraint: an offer of B to customers who bought A and not B, never to a customer with an open
ticket or a recent complaint, once in the cool-down, counted by the frequency cap; its conversion is read from the
`purchased` events (`reports crosssell`). Telegram, Slack and the CRM API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.outreach.models import DeliveryDecision
from bot.reports import ReportQuery
from bot.retention.kinds import RetentionKind
from bot.retention.models import CrosssellOffer
from tests.handlers.retention.conftest import Shop
from tests.handlers.slack.harness import ANA
from tests.handlers.telegram.harness import TgUser

OFFER = "Our burr grinder brings out the best in the beans you buy."
RULES = {"rules": {"beans_to_grinder": {"bought": "coffee-beans", "offer": "grinder", "text": OFFER}}}


async def complain(customer: TgUser) -> None:
    await customer.say("I want to complain", 2)
    await customer.say("My parcel (order 1234) never arrived", 1)
    await customer.press("Order & delivery", 1)
    await customer.press("Skip", 1)
    assert (await customer.press("Quite a lot", 1))[0].startswith("Thank you for telling us.")


async def offers(shop: Shop) -> list[tuple[int, str | None, bool]]:
    async with shop.core.db.sessions() as session:
        query = select(CrosssellOffer.customer_id, CrosssellOffer.stopped, CrosssellOffer.sent_at.is_not(None))
        return [tuple(row) for row in await session.execute(query.order_by(CrosssellOffer.id))]  # type: ignore[misc]


async def test_a_cross_sell_offer_never_reaches_a_customer_with_an_open_ticket_and_its_conversion_is_counted(
    open_shop: Any,
) -> None:
    async with open_shop(crosssell=RULES) as shop:
        ines, paulo, rosa, vera = (shop.customer(chat, name) for chat, name in
                                   ((71, "Ines"), (72, "Paulo"), (73, "Rosa"), (74, "Vera")))  # fmt: skip
        for chat in (71, 72, 73, 74):
            await shop.event("purchased", f"C-{chat}", chat, amount=12.5, product="coffee-beans")
        await shop.event("purchased", "C-74", 74, amount=89, product="grinder")  # Vera has one already
        await complain(paulo)  # Paulo's ticket is open
        await shop.core.dispatcher.drain()
        seen = {u.chat_id: len(u.messages()) for u in (ines, paulo, rosa, vera)}

        # Planned for Ines and Rosa; Rosa complains before it goes out.
        assert await shop.core.retention.plan_crosssell() == 2
        await complain(rosa)
        seen[73] = len(rosa.messages())
        await shop.staff.dispatch()
        (offer,) = await ines.expect(seen[71], 1)
        assert offer == f"{OFFER} Would you like to hear more?"
        for customer in (paulo, rosa, vera):
            assert not any(OFFER in text for text in customer.messages()), customer.first_name
        # Rosa's waits while her ticket is open; once it is settled, her recent complaint stops it for good.
        root = next(r for r in shop.staff.roots() if "C-1002" in r["text"])
        await shop.staff.claim(ANA, root)
        await shop.staff.submit_resolve(ANA, await shop.staff.open_resolve(ANA, root), "Found it at the depot.")
        await shop.staff.dispatch()
        await rosa.api.wait_for(lambda: "Is your problem solved?" in rosa.messages())
        await rosa.press("Yes", 1)
        await rosa.press("5", 1)
        await shop.tick(hours=1)
        assert not any(OFFER in text for text in rosa.messages())
        ines_id, rosa_id = (customer_id for customer_id, _, _ in await offers(shop))
        assert await offers(shop) == [(ines_id, None, True), (rosa_id, "the customer complained recently", False)]
        # The offers went through the delivery policy: Ines's counts toward her frequency cap; Rosa's, never sent, not.
        async with shop.core.db.sessions() as session:
            query = select(DeliveryDecision.customer_id, DeliveryDecision.decision)
            decisions = [
                tuple(row) for row in await session.execute(query.where(DeliveryDecision.kind == RetentionKind.FLOW))
            ]
        assert sorted(decisions) == [(ines_id, "sent"), (rosa_id, "deferred"), (rosa_id, "skipped")]

        # Ines is interested: a person hears of it. She buys the grinder: the offer converted.
        interested = await ines.press("Yes", 1)
        assert interested[0].startswith("Great! ") and "will tell you more here" in interested[0]
        await shop.event("purchased", "C-71", 71, amount=89, product="grinder")
        # Checked again later: nobody is offered it a second time in the cool-down.
        await shop.tick(days=1)
        assert await shop.core.retention.plan_crosssell(force=True) == 0
        report = (await shop.core.reports.run("crosssell", ReportQuery())).as_json()
        assert (report["offers"], report["sent"], report["converted"], report["conversion_pct"]) == (2, 1, 1, 100.0)
        assert report["by_rule"][0]["rule"] == "beans_to_grinder"
