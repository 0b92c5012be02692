"""The campaigns facade adapters call: a preview of who gets what, a send planned once, its progress; a campaign that
cannot be used is refused with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from bot.outreach.campaigns.catalog import CampaignError
from tests.bot.outreach.test_campaigns import add_customer

CAMPAIGNS = {
    "hello": {"message": "Hi {{ customer.first_name }}!", "buttons": [{"label": "Tips", "flow": "value_tips"}]},
    "tips": {"flow": "value_tips"},
    "off": {"message": "Hi", "enabled": False},
    "broken": {"flow": "value_tipz"},
}


async def test_a_preview_counts_the_audience_and_shows_what_customers_get(make_core: Any) -> None:
    async with make_core(CAMPAIGNS) as core:
        await add_customer(core, "Ana Lima")
        await add_customer(core, "Ben", identity=False)

        message = await core.campaigns.preview("hello", size=5)
        flow = await core.campaigns.preview("tips", size=5)

    assert message.audience.size == 1 and message.audience.left_out == {"no chat identity": 1}
    [sample] = message.samples
    assert (sample.display_name, sample.tier) == ("Ana Lima", "standard")
    assert [r.text for r in sample.replies] == ["Hi Ana!"] and [b.label for b in sample.replies[0].buttons] == ["Tips"]
    assert flow.samples[0].replies and flow.samples[0].replies[0].text  # the flow's first message


async def test_a_send_is_planned_once_and_its_progress_followed(make_core: Any) -> None:
    async with make_core(CAMPAIGNS) as core:
        await add_customer(core, "Ana")
        key = await core.campaigns.occurrence_to_send("hello")
        first = await core.campaigns.send("hello")
        again = await core.campaigns.send("hello", key)
        progress = await core.campaigns.progress(first.run_id)
        recent, occurrences = await core.campaigns.recent_runs("hello", 10)

    assert (first.occurrence, first.planned, first.already_planned) == (key, 1, False)
    assert (again.run_id, again.already_planned) == (first.run_id, True)
    assert progress.planned == 1 and sum(progress.outbox.values()) == 1
    assert [r.occurrence for r in recent] == [key] and occurrences == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [("nope", "unknown campaign 'nope'"), ("off", "campaign 'off' is disabled"),
     ("broken", "names flow 'value_tipz', which does not exist")],
)  # fmt: skip
async def test_an_unusable_campaign_is_refused_with_the_reason(make_core: Any, name: str, reason: str) -> None:
    async with make_core(CAMPAIGNS) as core:
        with pytest.raises(CampaignError, match=reason):
            await core.campaigns.send(name)
        if name != "off":  # a disabled campaign may still be previewed
            with pytest.raises(CampaignError, match=reason):
                await core.campaigns.preview(name, size=1)
