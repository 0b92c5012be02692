"""Asking again: a customer's NPS is asked again every N months after their last answer (resurvey.every_months), once
per answer, never sooner, so `reports nps` shows the trend. Through the web chat, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot.reports import ReportQuery
from tests.handlers.retention.conftest import Shop

VISITOR = "visitor-0123456789abcdef"
NPS_Q = "How likely are you to recommend our service to a friend or colleague?"


async def say(shop: Shop, **body: Any) -> list[str]:
    answer = await shop.api.post("/chat/api/messages", json={"visitor": VISITOR, **body})
    assert answer.status_code == 200, answer.text
    return [reply["text"] for reply in answer.json()["replies"]]


async def asked(shop: Shop) -> int:
    """How often the web chat showed the NPS question (what the visitor's page polls)."""
    answer = await shop.api.get("/chat/api/messages", params={"visitor": VISITOR, "after": 0})
    return sum(NPS_Q in m["text"] for m in answer.json()["messages"] if m["direction"] == "out")


async def test_nps_is_asked_again_every_n_months_after_the_last_answer_and_never_sooner(open_shop: Any) -> None:
    async with open_shop(resurvey={"every_months": 3}) as shop:
        # 2 March: Maria gives a 6.
        assert NPS_Q in (await say(shop, text="/nps", name="Maria"))[-1]  # behind one sentence of welcome
        await say(shop, text="6")
        await say(shop, text="Too slow")
        await say(shop, text="No")
        await shop.tick(minutes=20)  # the welcome questions her first words put off come now; she answers them
        await say(shop, text="For my work")
        assert await say(shop, text="No")
        assert await asked(shop) == 1

        # Not before three months have passed since her answer...
        await shop.tick(days=91)  # 1 June, 09:00
        assert await asked(shop) == 1
        await shop.tick(days=1)  # 2 June: three months
        assert await asked(shop) == 2
        # ...and once: she answers (a 9 now), and is not asked again until three months after that answer.
        await say(shop, text="9")
        await say(shop, text="You got faster")
        await shop.tick(days=30)
        await shop.tick(days=60)
        assert await asked(shop) == 2
        await shop.tick(days=2)  # 2 September
        assert await asked(shop) == 3

        # The trend: a detractor in March, a promoter in June.
        nps = (await shop.core.reports.run("nps", ReportQuery(by="month"))).as_json()
        assert [(p["period"], p["nps"]) for p in nps["periods"]] == [("2026-03-01", -100.0), ("2026-06-01", 100.0)]
