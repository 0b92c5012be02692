"""The step log written by the flow runner, read back by the `flows` report: a real conversation through the engine."""

from __future__ import annotations

from bot.core import Core
from bot.reports import ReportQuery
from tests.conftest import Chat, FixedClock


async def test_a_conversation_leaves_its_steps_in_the_flows_report(core: Core, chat: Chat, clock: FixedClock) -> None:
    await chat.say("/nps")
    clock.advance(seconds=40)
    await chat.say("9")  # promoter: the branch leads to why_promoter
    clock.advance(seconds=20)
    await chat.say("Fast delivery")
    other = Chat(core, address="customer-2", name="Rui")
    await other.say("/nps")
    clock.advance(seconds=10)
    await other.say("not a number")  # asked again: still one entry into the step, no answer
    report = (await core.reports.run("flows", ReportQuery())).as_json()
    steps = {row["step"]: row for row in report["steps"] if row["flow"] == "nps"}
    assert (steps["score"]["reached"], steps["score"]["answered"]) == (2, 1)
    assert steps["score"]["median_seconds_to_answer"] == 40.0
    assert (steps["why_promoter"]["reached"], steps["why_promoter"]["answered"]) == (1, 1)
    assert steps["why_promoter"]["median_seconds_to_answer"] == 20.0
    assert "why_detractor" not in steps
    assert steps["record"]["reached"] == 1 and steps["record"]["answered"] is None  # an action: nothing to answer
