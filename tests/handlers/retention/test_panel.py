"""The best customers' voice: the panel is a campaign for the top tier that starts the feedback_panel flow (as
examples/team.yaml sets it up); only the top tier is invited, and the answers are kept as survey responses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.surveys.models import SurveyResponse

PANEL = {
    "customer_panel": {"title": "The best customers' panel", "kind": "survey", "audience": {"tiers": ["core"]},
                       "schedule": {"core": "0 10 1 2,5,8,11 *"}, "repeat_after_days": 80, "flow": "feedback_panel"},
}  # fmt: skip
TIERS = {"rules": [{"tier": "core", "top_percent": 50, "by": "lifetime_value"}]}
INVITE = "you're one of our best customers"


async def test_only_the_top_tier_is_invited_to_the_panel_and_the_answers_are_kept(open_shop: Any) -> None:
    async with open_shop(campaigns=PANEL, tiers=TIERS) as shop:
        sara, leo = shop.customer(81, "Sara"), shop.customer(82, "Leo")
        await shop.event("purchased", "C-81", 81, amount=2400)
        await shop.event("purchased", "C-82", 82, amount=30)
        await shop.core.planning.recompute_tiers(force=True)
        await shop.staff.dispatch()
        seen = {81: len(sara.messages()), 82: len(leo.messages())}

        result = await shop.core.campaigns.send("customer_panel")
        assert result.planned == 1
        await shop.staff.dispatch()
        (invite,) = await sara.expect(seen[81], 1)
        assert INVITE in invite and "three short questions?" in invite
        assert not any(INVITE in text for text in leo.messages())
        assert await sara.press("Yes", 1) == ["How well do we serve you these days, from 1 (poorly) to 5 (very well)?"]
        assert await sara.press("4", 1) == ["What do you value most about us?"]
        assert await sara.say("The same person answers every time", 1) == ["And the one thing we should change or add?"]
        assert (await sara.say("Weekend delivery", 1))[0].startswith("Thank you, that's really helpful.")

        async with shop.core.db.sessions() as session:
            (answer,) = (await session.execute(select(SurveyResponse))).scalars()
        assert (answer.survey, answer.kind, answer.score) == ("panel", "csat", 4)
        assert answer.comment == "Values: The same person answers every time | Change: Weekend delivery"
