"""The playbook's sections changed through the console's service, on SQLite and PostgreSQL: a save changes what the
programs do (activation switched off: no nudge; a win-back step moved: the new day), the cross-sell job follows a
new interval, a draft with problems is refused with each problem at its field and nothing saved, and an old version
is restored with a line in the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.admin import audit
from bot.admin.playbook import SectionRefused
from bot.core import Core
from bot.outbox.models import OutboxItem
from bot.retention.kinds import RetentionKind
from tests.conftest import FixedClock

GIFT_FLOW = """\
flow: gift
title: A small gift
triggers:
  - command: /gift
steps:
  - action: give_reward
    pool: welcome
"""


async def save(core: Core, name: str, **changes: Any) -> int:
    data = getattr(core.settings, name).model_dump(mode="json") | changes
    head = (await core.playbook_console.heads())[name]
    return (await core.playbook_console.save(name, data, author="ana", expected_head=head.number)).number


async def planned(core: Core) -> list[tuple[str, datetime]]:
    """The program messages queued: (flow, due)."""
    async with core.db.sessions() as session:
        rows = await session.execute(select(OutboxItem).where(OutboxItem.kind == RetentionKind.FLOW))
        return sorted((row.payload["flow_id"], row.due_at) for row in rows.scalars())


def event(name: str, n: int, **data: Any) -> dict[str, Any]:
    return {"event": name, "event_id": f"{name}-{n}", "customer": {"external_id": f"C-{n}"}, "data": data}


async def test_activation_switched_off_in_the_console_plans_no_nudge(core: Core, clock: FixedClock) -> None:
    await save(core, "activation", enabled=False)
    await core.customers.record_events(event("signed_up", 1))
    assert "nudges" not in await core.retention.take_events()
    assert await planned(core) == []
    clock.advance(minutes=30)
    await core.retention.take_events()  # the first signup is now past the events' look-back: never read again
    await save(core, "activation", enabled=True, nudges=[{"after_days": 2, "flow": "activation_nudge"}])
    await core.customers.record_events(event("signed_up", 2))
    await core.retention.take_events()
    [(flow, due)] = await planned(core)
    assert flow == "activation_nudge" and due - core.clock.now() == timedelta(days=2)


async def test_a_win_back_step_moved_in_the_console_is_planned_on_its_new_day(core: Core) -> None:
    await save(core, "winback", steps=[{"after_days": 3, "flow": "winback_ask"},
                                       {"after_days": 45, "flow": "winback_news"}])  # fmt: skip
    await core.customers.record_events(event("cancelled", 1, reason="not_using"))
    await core.retention.take_events()
    days = [(flow, round((due - core.clock.now()) / timedelta(days=1))) for flow, due in await planned(core)]
    assert days == [("winback_ask", 3), ("winback_news", 45)]


async def test_the_cross_sell_job_follows_a_new_interval(core: Core, clock: FixedClock) -> None:
    rule = {"bought": "bike", "offer": "helmet", "text": "A helmet to go with your bike?"}
    await save(core, "crosssell", rules={"helmet": rule})
    assert await core.retention.plan_crosssell() == 0  # the first run
    clock.advance(minutes=20)
    assert await core.retention.plan_crosssell() is None  # every 60 minutes
    await save(core, "crosssell", check_every_minutes=15)
    assert await core.retention.plan_crosssell() == 0  # 20 minutes on: due at the new interval


@pytest.mark.parametrize(
    ("name", "changes", "field", "says"),
    [
        ("winback", {"steps": [{"after_days": -1, "flow": "winback_ask"}]}, "steps.0.after_days", "greater than 0"),
        ("winback", {"steps": [{"after_days": 7, "flow": "winback_asc"}]}, "steps.0.flow", 'mean "winback_ask"'),
        ("winback", {"fixable_reasons": ["price", "weather"]}, "fixable_reasons", "not in reasons"),
        ("activation", {"nudges": [{"after_days": 5, "flow": "nope"}]}, "nudges.0.flow", 'there is no flow "nope"'),
        ("crosssell", {"rules": {"helmet": {"bought": "bike", "offer": "helmet", "text": "Hi", "tiers": ["gold"]}}},
         "rules.helmet.tiers", 'unknown tier "gold"'),
        ("resurvey", {"every_months": 0}, "every_months", "greater than or equal to 1"),
        ("rewards", {"goodwill_on_sla_breach": {"pool": "sorry"}}, "goodwill_on_sla_breach", "no pool 'sorry'"),
        ("rewards", {"given_text": "Your code: {{ reward.code }"}, "given_text", "template error"),
        ("incidents", {"opened_text": "{% if %}"}, "opened_text", "template error"),
    ],
)  # fmt: skip
async def test_a_draft_with_a_problem_is_refused_at_its_field_and_nothing_is_saved(
    core: Core, name: str, changes: dict[str, Any], field: str, says: str
) -> None:
    before = getattr(core.settings, name)
    with pytest.raises(SectionRefused) as refused:
        await save(core, name, **changes)
    assert says in refused.value.problems[field], refused.value.problems
    assert getattr(core.settings, name) is before
    assert (await core.playbook_console.heads())[name].number == 1
    assert await audit.recent(core.db) == []


async def test_an_old_version_is_restored_as_the_newest_with_its_difference_and_an_audit_line(core: Core) -> None:
    await save(core, "resurvey", every_months=3)
    with pytest.raises(SectionRefused, match="nothing changed"):
        await save(core, "resurvey", every_months=3)
    restored = await core.playbook_console.restore("resurvey", 1, author="bo")
    assert restored.number == 3 and restored.note == "restored version 1"
    assert core.settings.resurvey.every_months == 6
    diff = await core.playbook_console.diff("resurvey", 1, 2)
    assert diff is not None and ("add", "+every_months: 3") in diff.lines
    lines = [(a.actor, a.action, a.target, a.detail) for a in await audit.recent(core.db)]
    assert lines == [("bo", "settings restored", "playbook:resurvey", "version 3: restored version 1"),
                     ("ana", "settings saved", "playbook:resurvey", "version 2")]  # fmt: skip


async def test_a_pool_a_flow_gives_from_cannot_be_removed(core: Core, flows_dir: Path) -> None:
    await save(core, "rewards", pools={"welcome": {"template": "WELCOME-{random:8}"}})
    (flows_dir / "gift.yaml").write_text(GIFT_FLOW, encoding="utf-8")
    assert await core.load_flows(import_files=True) == []
    with pytest.raises(SectionRefused) as refused:
        await save(core, "rewards", pools={})
    assert refused.value.problems == {"pools": 'flow "gift" gives rewards from pool "welcome": keep that pool, or '
                                               "change the flow first"}  # fmt: skip
    assert set(core.settings.rewards.pools) == {"welcome"}
