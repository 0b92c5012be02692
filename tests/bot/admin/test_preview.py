"""The preview runs a draft against a scratch store with a clock of its own: the real database never sees it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.admin.preview import PreviewError, PreviewRequest
from bot.core import Core
from bot.customers.models import Customer


async def act(core: Core, **data: object) -> dict:
    return await core.previews.act("ana", PreviewRequest.of(dict(data)))


async def customers_in(core: Core) -> int:
    async with core.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


async def test_a_draft_runs_through_buttons_and_a_skipped_wait_without_touching_the_real_database(
    core: Core,
) -> None:
    lf = core.registry.current("onboarding")
    assert lf is not None
    draft = lf.source.replace("how is your first day with us going?", "how was day one?")
    start = await act(core, action="start", flow="onboarding", source=draft, step=lf.index_of("checkins_intro"),
                      tier="gold", language="pt", attributes={"plan": "pro"})  # fmt: skip
    assert [m["text"] for m in start["messages"]] == ["Thanks, that's all for now. I'll check in with you tomorrow."]
    assert start["status"] == "waiting" and start["waiting_until"]
    day1 = await act(core, action="skip", preview=start["preview"])
    [question] = day1["messages"]
    assert "how was day one?" in question["text"]
    assert [b["label"] for b in question["buttons"]] == ["Going well", "Still finding my way", "Something isn't right"]
    pressed = await act(core, action="press", preview=start["preview"], choice=question["buttons"][0]["value"])
    assert pressed["answers"]["day1"] == "good"
    assert await customers_in(core) == 0  # nothing reached the real database
    assert core.registry.current("onboarding") is lf  # nor the flows in force


async def test_the_test_customer_is_what_the_templates_see(core: Core) -> None:
    source = """
flow: hello
steps:
  - say: "tier {{ customer.tier }}, language {{ customer.language }}, plan {{ customer.attributes.plan }}"
"""
    answer = await act(core, action="start", flow="hello", source=source, tier="gold", language="pt",
                       attributes={"plan": "pro"})  # fmt: skip
    assert answer["messages"][0]["text"] == "tier gold, language pt, plan pro"


async def test_an_invalid_draft_or_an_unknown_preview_gets_a_clear_answer(core: Core) -> None:
    with pytest.raises(PreviewError) as refused:
        await act(core, action="start", flow="nps", source="flow: nps\nsteps: []\n")
    assert refused.value.problems
    with pytest.raises(PreviewError, match="start again"):
        await act(core, action="say", preview="nope", text="hi")
