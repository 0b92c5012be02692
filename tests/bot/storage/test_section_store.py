"""The settings store as instances and admins meet it, on SQLite and PostgreSQL: config.yaml's playbook sections
imported at start, a console save in force on a second instance after its poll, and the fast-forward rule between a
config.yaml edit and a console edit (neither silently overwrites the other)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.admin.playbook import SectionRefused
from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.core import Core
from tests.bot.outreach import test_campaign_store

# Instances on one database at a fixed time: the campaign store's fixtures.
clock, start_instance = test_campaign_store.clock, test_campaign_store.start

STEPS = [{"after_days": 7, "flow": "winback_ask"}, {"after_days": 30, "flow": "winback_offer"}]


async def save_steps(core: Core, days: list[float], author: str = "ana") -> int:
    data = core.settings.winback.model_dump(mode="json") | {
        "steps": [{"after_days": d, "flow": "winback_ask"} for d in days]
    }
    head = (await core.playbook_console.heads())["winback"]
    saved = await core.playbook_console.save("winback", data, author=author, expected_head=head.number)
    return saved.number


async def test_sections_are_imported_at_start_as_version_one_and_again_only_when_edited(start_instance: Any) -> None:
    first = await start_instance(winback={"steps": STEPS})
    heads = await first.section_store.heads()
    assert sorted(heads) == sorted(PLAYBOOK_SECTIONS)
    assert {(h.number, h.author, h.origin) for h in heads.values()} == {(1, "config.yaml", "config")}
    again = await start_instance(winback={"steps": STEPS})
    assert {h.number for h in (await again.section_store.heads()).values()} == {1}
    edited = await start_instance(winback={"steps": STEPS[:1]})
    assert [s.after_days for s in edited.settings.winback.steps] == [7]
    heads = await edited.section_store.heads()
    assert heads["winback"].number == 2 and heads["activation"].number == 1
    assert heads["winback"].source == "steps:\n- after_days: 7.0\n  flow: winback_ask\n"


async def test_a_console_save_is_in_force_on_a_second_instance_after_its_poll(start_instance: Any) -> None:
    one, two = await start_instance(), await start_instance()
    assert await save_steps(one, [3, 60]) == 2
    assert [s.after_days for s in one.settings.winback.steps] == [3, 60]  # at once where it was saved
    assert [s.after_days for s in two.settings.winback.steps] == [7, 30, 90]  # not polled yet
    await two.poll_saved()
    assert [s.after_days for s in two.settings.winback.steps] == [3, 60]
    # Every part of the core holds the same settings object, and so reads the new section.
    assert two.retention.settings.winback is two.settings.winback is two.engine.settings.winback


async def test_a_restart_keeps_the_console_save_while_config_yaml_is_behind(start_instance: Any) -> None:
    one = await start_instance()
    await save_steps(one, [3])
    restarted = await start_instance()
    assert [s.after_days for s in restarted.settings.winback.steps] == [3]
    assert [(h.name, h.number) for h in restarted.section_sync.behind] == [("winback", 2)]
    assert restarted.settings.config_sections()["winback"].steps[0].after_days == 7  # what config.yaml holds


async def test_a_config_edit_over_a_console_save_is_refused_and_force_imports_it(start_instance: Any) -> None:
    one = await start_instance()
    await save_steps(one, [3])
    both = await start_instance(winback={"steps": STEPS})
    assert [s.after_days for s in both.settings.winback.steps] == [3]
    [conflict] = both.section_sync.conflicts
    assert 'section "winback": config.yaml was edited' in conflict and "version 2 by ana" in conflict
    assert (await both.section_store.heads())["activation"].number == 1  # the other sections are untouched
    await both.load_sections(import_config=True, force=True)
    assert [s.after_days for s in both.settings.winback.steps] == [7, 30]
    head = (await both.section_store.heads())["winback"]
    assert head.note == "imported from config.yaml (--force, over a console change)" and head.number == 3


async def test_a_stale_save_is_refused_and_nothing_is_lost(start_instance: Any) -> None:
    one, two = await start_instance(), await start_instance()
    await save_steps(one, [3])
    data = two.settings.winback.model_dump(mode="json") | {"same_cancellation_days": 10}
    with pytest.raises(SectionRefused, match="winback is at version 2 by ana now, not 1"):
        await two.playbook_console.save("winback", data, author="bo", expected_head=1)
    await two.poll_saved()
    assert [s.after_days for s in two.settings.winback.steps] == [3]


async def test_a_section_of_a_later_release_is_left_alone(start_instance: Any) -> None:
    one = await start_instance()
    await one.section_store.save("loyalty", PLAYBOOK_SECTIONS["resurvey"](), author="a later release")
    two = await start_instance()  # reads it, cannot use it, and neither retires it nor stops
    heads = await two.section_store.heads()
    assert heads["loyalty"].number == 1 and not heads["loyalty"].retired
    assert not hasattr(two.settings, "loyalty")
