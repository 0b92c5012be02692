"""Why customers leave, and winning them back: a cancellation (the flow in Telegram, or the CRM's `cancelled` event)
records its reason; a fixable reason reaches the named person in Slack as a save attempt; the win-back messages
follow at their days and stop when the customer comes back or opts out. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.outbox.models import OutboxItem
from bot.reports import ReportQuery
from bot.retention.kinds import RetentionKind
from bot.retention.models import Cancellation
from tests.handlers.retention.conftest import Shop
from tests.handlers.slack.harness import ANA


async def cancellations(shop: Shop) -> list[Cancellation]:
    async with shop.core.db.sessions() as session:
        return list((await session.execute(select(Cancellation).order_by(Cancellation.id))).scalars())


async def winback_rows(shop: Shop) -> list[tuple[str, str]]:
    async with shop.core.db.sessions() as session:
        query = select(OutboxItem.dedupe_key, OutboxItem.status).where(OutboxItem.kind == RetentionKind.FLOW)
        return [(key, status) for key, status in await session.execute(query.order_by(OutboxItem.id))]


async def test_a_cancellation_for_a_fixable_reason_reaches_the_named_person_and_the_win_back_stops_on_reactivation(
    open_shop: Any,
) -> None:
    async with open_shop() as shop:
        joana = shop.customer(42, "Joana")
        await joana.say("I want to cancel my subscription", 2)  # the welcome opens the first
        await joana.press("It's too expensive", 2)
        done = await joana.press("Yes", 1)
        assert done[0].startswith("Thank you. I've passed your cancellation request on (reference C-1001). It's with "
                                  "Ana Lima")  # fmt: skip
        await shop.tick()

        # The save attempt reaches Ana by name in Slack, said to be one.
        root = shop.staff.root()
        assert root["blocks"][0]["text"]["text"] == "Save attempt C-1001: Cancellation request (reason: price)"
        fields = " ".join(f["text"] for f in root["blocks"][1]["fields"])
        assert f"<@{ANA}>" in root["text"] and "*Category*\nretention" in fields
        (dm,) = shop.staff.api.dms_to(ANA)
        assert "C-1001" in dm["text"]
        (cancellation,) = await cancellations(shop)
        assert (cancellation.reason, cancellation.fixable, cancellation.status) == ("price", True, "running")
        assert cancellation.ticket_id == (await shop.staff.ticket("C-1001")).id
        assert [key for key, _ in await winback_rows(shop)] == ["winback:1:1", "winback:1:2", "winback:1:3"]

        # Day 7 while Ana still works on it: no automated message over her head.
        seen = len(joana.messages())
        await shop.tick(days=7)
        assert len(joana.messages()) == seen
        # Ana resolves it; Joana confirms. The first win-back message follows once the ticket is settled.
        await shop.staff.claim(ANA, root)
        view = await shop.staff.open_resolve(ANA, root)
        await shop.staff.submit_resolve(ANA, view, "Moved you to the smaller plan as a trial.")
        await shop.staff.dispatch()
        await joana.api.wait_for(lambda: "Is your problem solved?" in joana.messages())
        await joana.press("Yes", 1)
        await joana.press("5", 1)
        seen = len(joana.messages())
        await shop.tick(minutes=20)
        asked = await joana.expect(seen, 2)
        assert asked[0].startswith("Hi Joana, it's our service. You left us a week ago")
        assert asked[1] == "Is there one thing that would make you come back?"
        assert (await joana.press("Nothing, thanks", 1))[0].startswith("Understood, thank you")

        # She comes back (the CRM says so): the rest of the sequence is cancelled, and nothing more arrives.
        await shop.event("reactivated", "C-42", 42)
        await shop.tick()
        (cancellation,) = await cancellations(shop)
        assert (cancellation.status, cancellation.stopped_by) == ("won_back", "reactivated")
        assert await winback_rows(shop) == [("winback:1:1", "done"), ("winback:1:2", "cancelled"),
                                            ("winback:1:3", "cancelled")]  # fmt: skip
        seen = len(joana.messages())
        await shop.tick(days=30)
        await shop.tick(days=90)
        assert len(joana.messages()) == seen

        # `reports churn` counts the sequence and how it ended.
        churn = (await shop.core.reports.run("churn", ReportQuery())).as_json()
        assert (churn["win_back_sequences"], churn["save_attempts"], churn["won_back_by_sequence"]) == (1, 1, 1)
        assert churn["win_back"] == [{"reason": "price", "sequences": 1, "save_attempts": 1, "won_back": 1,
                                      "opted_out": 0, "running": 0, "finished": 0, "win_back_pct": 100.0}]  # fmt: skip


async def test_the_crm_s_cancelled_event_records_the_reason_and_only_fixable_reasons_open_a_save_attempt(
    open_shop: Any,
) -> None:
    async with open_shop() as shop:
        rita, bruno, eva = shop.customer(51, "Rita"), shop.customer(52, "Bruno"), shop.customer(53, "Eva")
        await shop.event("cancelled", "C-51", 51, reason="service", details="Nobody answered my emails for a week")
        await shop.event("cancelled", "C-52", 52, reason="switching", details="A friend's company is cheaper")
        await shop.event("cancelled", "C-53", 53, reason="Moving abroad", comment="Back next year")
        await shop.tick()

        found = {c.customer_id: c for c in await cancellations(shop)}
        assert sorted((c.reason, c.details, c.fixable) for c in found.values()) == [
            ("other", "Moving abroad: Back next year", False),
            ("service", "Nobody answered my emails for a week", True),
            ("switching", "A friend's company is cheaper", False),
        ]
        # One save attempt, for the fixable reason, with the customer's words, to the named person.
        root = shop.staff.root()
        assert root["blocks"][0]["text"]["text"] == "Save attempt C-1001: Cancelled (reason: service)"
        assert f"<@{ANA}>" in root["text"] and "Nobody answered my emails for a week" in str(root["blocks"])
        # The same event sent again (a retry) and a second look change nothing.
        await shop.tick()
        assert len(await cancellations(shop)) == 3 and len(shop.staff.roots()) == 1

        # Bruno opts out in chat: his sequence stops. Eva hears from us at day 7; Rita's save attempt is open.
        await bruno.say("stop", 1)
        await bruno.press("Yes", 1)
        seen = {u.chat_id: len(u.messages()) for u in (rita, bruno, eva)}
        await shop.tick(days=7)
        assert len(eva.messages()) == seen[53] + 2 and eva.messages()[-1].startswith("Is there one thing")
        assert len(bruno.messages()) == seen[52] and len(rita.messages()) == seen[51]
        statuses = {c.customer_id: (c.status, c.stopped_by) for c in await cancellations(shop)}
        assert statuses[found_id(found, 52)] == ("opted_out", "opted out")
        assert statuses[found_id(found, 53)] == ("running", None)
        # Eva buys again: her sequence stops there, and the day-30 offer never comes.
        await shop.event("purchased", "C-53", 53, amount=20)
        await shop.tick(days=30)
        statuses = {c.customer_id: (c.status, c.stopped_by) for c in await cancellations(shop)}
        assert statuses[found_id(found, 53)] == ("won_back", "purchased")
        assert not any("come back this month" in text for text in eva.messages())


def found_id(found: dict[int, Cancellation], chat: int) -> int:
    """The customer id of the cancellation whose details came from chat `chat` (ids follow the events' order)."""
    return sorted(found)[chat - 51]
