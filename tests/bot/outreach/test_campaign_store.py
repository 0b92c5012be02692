"""The campaign store as instances and admins meet it, on SQLite and PostgreSQL: config.yaml's campaigns imported at
start, a console edit in force on a second instance after its poll, the fast-forward rule between a config.yaml
edit and a console edit (neither silently overwrites the other), retiring, and a send of a campaign another instance
learns of only by its poll: it waits, and is sent, never used up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.admin.campaigns import CampaignRefused
from bot.core import Core
from bot.outreach.campaigns import catalog, planning
from bot.outreach.campaigns.store import to_source
from tests.bot.outreach.test_campaign_delivery import WebInbox, a_customer
from tests.conftest import FixedClock, make_settings

TIP = {"kind": "tip", "message": "A tip for you, {{ customer.first_name }}"}
EDITED = "A new tip, {{ customer.first_name }}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))


@pytest.fixture
async def start(tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock) -> Any:
    """Start an instance on the shared database with this config.yaml's campaigns and other sections (closed at the
    test's end). The settings store's tests use it too (tests/bot/storage/test_section_store.py)."""
    cores: list[Core] = []

    async def open_instance(campaigns: dict[str, Any] | None = None, **sections: dict[str, Any]) -> Core:
        folder = tmp_path / f"instance{len(cores)}"
        folder.mkdir()
        core = Core(make_settings(folder, database_url, flows_dir, campaigns=campaigns or {}, **sections), clock=clock)
        cores.append(core)
        assert await core.prepare() == []
        return core

    yield open_instance
    for core in cores:
        await core.close()


async def edit_in_console(core: Core, name: str, message: str, author: str = "ana") -> int:
    data = core.settings.campaigns[name].model_dump(mode="json") | {"message": message}
    head = await core.campaign_console.head(name)
    saved = await core.campaign_console.save(name, data, author=author, expected_head=head.number if head else 0)
    return saved.number


async def test_config_campaigns_are_imported_at_start_as_version_one_and_again_only_when_edited(start: Any) -> None:
    first = await start({"tips": TIP})
    heads = await first.campaign_store.heads()
    assert [(h.name, h.number, h.author, h.origin) for h in heads.values()] == [("tips", 1, "config.yaml", "config")]
    again = await start({"tips": TIP})
    assert [h.number for h in (await again.campaign_store.heads()).values()] == [1]
    edited = await start({"tips": TIP | {"title": "Tips"}})
    assert edited.settings.campaigns["tips"].title == "Tips"
    assert (await edited.campaign_store.heads())["tips"].number == 2


async def test_a_console_edit_is_in_force_on_a_second_instance_after_its_poll(start: Any) -> None:
    one, two = await start({"tips": TIP}), await start({"tips": TIP})
    assert await edit_in_console(one, "tips", EDITED) == 2
    assert one.settings.campaigns["tips"].message == EDITED  # at once where it was saved
    assert two.settings.campaigns["tips"].message == TIP["message"]  # not polled yet
    await two.poll_saved()
    assert two.settings.campaigns["tips"].message == EDITED
    assert two.planning.settings.campaigns["tips"].message == EDITED  # every part reads the same campaigns


async def test_a_restart_keeps_the_console_edit_while_config_yaml_is_behind(start: Any) -> None:
    one = await start({"tips": TIP})
    await edit_in_console(one, "tips", EDITED)
    restarted = await start({"tips": TIP})
    assert restarted.settings.campaigns["tips"].message == EDITED
    assert [h.number for h in restarted.campaign_sync.behind] == [2]


async def test_a_config_edit_over_a_console_edit_is_refused_and_force_imports_it(start: Any) -> None:
    one = await start({"tips": TIP})
    await edit_in_console(one, "tips", EDITED)
    both = await start({"tips": TIP | {"message": "Edited in config.yaml"}})
    assert both.settings.campaigns["tips"].message == EDITED
    [conflict] = both.campaign_sync.conflicts
    assert 'campaign "tips": config.yaml was edited' in conflict and "version 2 by ana" in conflict
    await both.load_campaigns(import_config=True, force=True)
    assert both.settings.campaigns["tips"].message == "Edited in config.yaml"
    note = (await both.campaign_store.heads())["tips"].note
    assert note == "imported from config.yaml (--force, over a console change)"


async def test_a_campaign_removed_from_config_yaml_is_retired_unless_the_console_changed_it(start: Any) -> None:
    await start({"tips": TIP, "news": TIP | {"kind": "news"}})
    one = await start({"tips": TIP})
    assert set(one.settings.campaigns) == {"tips"}
    assert (await one.campaign_store.heads())["news"].retired
    assert set((await start({})).settings.campaigns) == {"tips"}  # no campaigns at all: nothing retired
    await edit_in_console(one, "tips", EDITED)
    kept = await start({"other": TIP})
    assert set(kept.settings.campaigns) == {"tips", "other"} and kept.campaign_sync.conflicts
    back = await start({"news": TIP | {"kind": "news"}, "tips": TIP})  # put back in config.yaml: in force again
    assert set(back.settings.campaigns) == {"news", "tips"}


async def test_a_campaign_created_and_retired_in_the_console_stays_as_config_yaml_never_held_it(start: Any) -> None:
    one = await start({"tips": TIP})
    await one.campaign_console.save("winter", {"message": "Brr"}, author="ana", expected_head=0, creating=True)
    restarted = await start({"tips": TIP})
    assert set(restarted.settings.campaigns) == {"tips", "winter"}
    with pytest.raises(CampaignRefused, match="exists already"):
        await one.campaign_console.save("winter", {"message": "Brr"}, author="ana", expected_head=0, creating=True)
    await one.campaign_console.retire("winter", author="ana", expected_head=1)
    await restarted.poll_saved()
    assert set(restarted.settings.campaigns) == {"tips"}
    assert to_source(one.settings.campaigns["tips"]).startswith("kind: tip\n")


async def test_an_edit_based_on_an_old_version_is_refused(start: Any) -> None:
    one = await start({"tips": TIP})
    await edit_in_console(one, "tips", EDITED)
    with pytest.raises(CampaignRefused, match="is at version 2 by ana now, not 1"):
        await one.campaign_console.save("tips", TIP | {"message": "late"}, author="bo", expected_head=1)


async def test_a_send_of_a_campaign_new_to_an_instance_waits_until_its_poll_and_is_then_sent(
    start: Any, clock: FixedClock
) -> None:
    one, two = await start({"tips": TIP}), await start({"tips": TIP})
    inbox = WebInbox()
    two.add_channel(inbox)
    await a_customer(one, clock, "ana", "Ana Lima")
    await one.campaign_console.save("winter", {"message": "Winter news, {{ customer.first_name }}"}, author="ana",
                                    expected_head=0, creating=True)  # fmt: skip
    clock.advance(hours=1)
    now = clock.now()
    result = await planning.plan(one.db, one.settings, "winter", "manual@test", due_at=now, now=now)
    clock.advance(seconds=5)
    await two.dispatcher.drain()  # two has not polled: the row waits, nothing is decided
    assert inbox.texts_to("ana") == [] and (await catalog.progress(one.db, result.run_id)).decisions == {}
    await two.poll_saved()
    clock.advance(seconds=6)  # past the short wait for a campaign of a new occurrence the instance did not know
    await two.dispatcher.drain()
    assert inbox.texts_to("ana") == ["Winter news, Ana"]
    assert (await catalog.progress(one.db, result.run_id)).decisions == {("sent", "allowed"): 1}


async def test_a_schedule_changed_on_another_instance_is_laid_out_again_by_its_poll(start: Any) -> None:
    config = {"tips": TIP | {"schedule": {"*": "0 10 * * 1"}}}
    one, two = await start(config), await start(config)
    await two.start_background()

    def jobs() -> list[str]:
        return sorted(job.id for job in two.scheduler._scheduler.get_jobs() if job.id.startswith("campaign:"))

    assert jobs() == ["campaign:tips:*"]
    data = one.settings.campaigns["tips"].model_dump(mode="json") | {"schedule": {"standard": "0 9 * * 2"}}
    await one.campaign_console.save("tips", data, author="ana", expected_head=1)
    await two.poll_saved()
    assert jobs() == ["campaign:tips:standard"]
    await one.campaign_console.retire("tips", author="ana", expected_head=2)
    await two.poll_saved()
    assert jobs() == []
