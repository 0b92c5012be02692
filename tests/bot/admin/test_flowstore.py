"""The flow store as instances and admins meet it, on SQLite and PostgreSQL: files imported at start, console
publishes served by every instance, the fast-forward rule between a file edit and a console edit, rollback, and
conversations in progress finishing on the version they started with."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.admin.flows import FlowRefused
from bot.admin.texts import apply_texts, customer_texts
from bot.config import Campaign, Settings
from bot.config.resurvey import ResurveySettings
from bot.core import Core
from tests.bot.conversations.statement_log import logged_statements
from tests.bot.conversations.test_reload import eventually
from tests.conftest import Chat, FixedClock, make_settings

NEW_ASK = "On a scale of 0 to 10, would you recommend us?"


def with_new_wording(core: Core, flow_id: str = "nps", text: str = NEW_ASK) -> str:
    lf = core.registry.current(flow_id)
    assert lf is not None
    first = customer_texts(lf)[0]
    return apply_texts(lf.source, {first.key: text})


async def open_core(settings: Settings, clock: FixedClock) -> Core:
    core = Core(settings, clock=clock)
    assert await core.prepare() == []
    return core


async def test_files_are_imported_at_start_as_version_one(core: Core) -> None:
    heads = await core.flowstore.heads()
    assert set(heads) == {lf.id for lf in core.registry.all()}
    assert {(h.number, h.origin, h.author) for h in heads.values()} == {(1, "file", "flows/")}


async def test_a_console_publish_is_served_at_once_and_by_a_second_instance_after_a_poll(
    core: Core, settings: Settings, clock: FixedClock
) -> None:
    other = await open_core(settings, clock)
    try:
        published = await core.flow_console.publish("nps", with_new_wording(core), author="ana", note="shorter",
                                                    expected_head=1)  # fmt: skip
        assert published.number == 2 and published.origin == "console"
        assert NEW_ASK in await Chat(core).say("/nps")
        assert NEW_ASK not in await Chat(other, address="c2").say("/nps")  # not polled yet
        await other.poll_saved()
        assert NEW_ASK in await Chat(other, address="c3").say("/nps")
    finally:
        await other.close()


async def test_an_instances_look_for_what_was_saved_elsewhere_is_one_statement(
    core: Core, settings: Settings, clock: FixedClock
) -> None:
    """Every instance looks every two seconds, between its customers' messages: flows, campaigns and sections in one
    statement, where each was a session of its own (BEGIN, SELECT and ROLLBACK); on PostgreSQL in autocommit."""
    other = await open_core(settings, clock)
    try:
        async with logged_statements(other) as log:
            await other.poll_saved()
        reads = [s for s in log.statements if s.startswith("SELECT")]  # on SQLite each is logged twice (driver too)
        assert reads and all(t in r for r in reads for t in ("flow_publishes", "campaign_versions", "section_versions"))
        if core.db.is_postgres:
            assert len(log.statements) == 1, log.statements  # no BEGIN, no ROLLBACK
    finally:
        await other.close()


async def test_a_restart_keeps_serving_the_console_version_while_the_file_is_behind(
    core: Core, settings: Settings, clock: FixedClock
) -> None:
    await core.flow_console.publish("nps", with_new_wording(core), author="ana", note="", expected_head=1)
    again = await open_core(settings, clock)
    try:
        assert NEW_ASK in await Chat(again).say("/nps")
        assert (await again.flowstore.heads())["nps"].number == 2  # the unchanged file published nothing
    finally:
        await again.close()


async def test_a_file_edit_over_a_console_edit_is_refused_with_what_to_do_and_the_console_version_serves(
    core: Core, settings: Settings, clock: FixedClock, flows_dir: Path
) -> None:
    await core.flow_console.publish("nps", with_new_wording(core), author="ana", note="", expected_head=1)
    nps = flows_dir / "nps.yaml"
    nps.write_text(nps.read_text().replace("to a friend or colleague", "to a friend"), encoding="utf-8")
    again = Core(settings, clock=clock)
    try:
        problems = await again.prepare()
        assert len(problems) == 1
        assert problems[0].path == str(nps)
        assert "changed in the console" in problems[0].message and "flows export" in problems[0].message
        assert NEW_ASK in await Chat(again).say("/nps")
        assert (await again.flowstore.heads())["nps"].number == 2
    finally:
        await again.close()


async def test_a_file_edit_on_top_of_the_head_is_published_as_the_next_version(core: Core, flows_dir: Path) -> None:
    nps = flows_dir / "nps.yaml"
    nps.write_text(nps.read_text().replace("to a friend or colleague", "to a friend"), encoding="utf-8")
    assert await core.load_flows(import_files=True) == []
    head = (await core.flowstore.heads())["nps"]
    assert (head.number, head.origin, head.parent_id is not None) == (2, "file", True)
    assert "to a friend?" in await Chat(core).say("/nps")


async def test_after_an_export_into_flows_a_file_edit_is_accepted_again(core: Core, flows_dir: Path) -> None:
    await core.flow_console.publish("nps", with_new_wording(core), author="ana", note="", expected_head=1)
    head = (await core.flowstore.heads())["nps"]
    (flows_dir / "nps.yaml").write_text(head.source.replace("would you recommend us", "do you recommend us"))
    assert (await core.load_flows(import_files=True))[0].message.startswith('flow "nps": this file was edited')
    (flows_dir / "nps.yaml").write_text(head.source, encoding="utf-8")  # what `flows export` writes
    assert await core.load_flows(import_files=True) == []
    (flows_dir / "nps.yaml").write_text(head.source.replace("would you recommend us", "do you recommend us"))
    assert await core.load_flows(import_files=True) == []
    assert "do you recommend us" in await Chat(core).say("/nps")


async def test_a_publish_from_a_stale_editor_is_refused(core: Core) -> None:
    await core.flow_console.publish("nps", with_new_wording(core), author="ana", note="", expected_head=1)
    with pytest.raises(FlowRefused, match="at version 2 by ana"):
        await core.flow_console.publish("nps", with_new_wording(core, text="Another?"), author="bob", note="",
                                        expected_head=1)  # fmt: skip


async def test_an_invalid_draft_is_refused_with_its_problems_at_their_lines(core: Core) -> None:
    lf = core.registry.current("nps")
    assert lf is not None
    broken = lf.source.replace("goto: why_promoter", "goto: why_promotr")
    with pytest.raises(FlowRefused) as refused:
        await core.flow_console.publish("nps", broken, author="ana", note="", expected_head=1)
    [problem] = refused.value.problems
    assert problem.line == broken.splitlines().index("        goto: why_promotr") + 1
    assert 'unknown step "why_promotr" (did you mean "why_promoter"?)' in problem.message
    assert (await core.flowstore.heads())["nps"].number == 1


async def test_a_draft_giving_a_reward_of_an_unknown_pool_is_refused(core: Core) -> None:
    draft = ("flow: gift\ntriggers:\n  - command: /gift\n"
             "steps:\n  - action: give_reward\n    pool: sorry\n  - end: true\n")  # fmt: skip
    lf, problems = core.flow_console.check(None, draft, "gift.yaml")
    assert lf is not None
    assert [(p.line, p.message) for p in problems] == [
        (6, 'flow "gift", step 1: unknown reward pool "sorry"; rewards.pools has: none')
    ]


async def test_rollback_publishes_the_old_version_again_and_a_run_in_progress_keeps_its_version(
    core: Core, chat: Chat
) -> None:
    await chat.say("/nps")  # a conversation started on version 1
    await core.flow_console.publish("nps", with_new_wording(core), author="ana", note="", expected_head=1)
    assert NEW_ASK in await Chat(core, address="new-customer").say("/nps")
    rolled = await core.flow_console.rollback("nps", 1, author="ana")
    assert (rolled.number, rolled.origin, rolled.note) == (3, "rollback", "rollback to version 1")
    assert NEW_ASK not in await Chat(core, address="third-customer").say("/nps")
    diff = await core.flow_console.diff("nps", 1, 2)
    assert diff is not None
    # The question is a block (`ask: |-`): the form keeps its style and the new wording is its added line.
    assert ("add", f"+      {NEW_ASK}") in diff.lines
    assert "Thank you, that means a lot" in await chat.say("9")  # the first conversation goes on


async def test_a_new_flow_from_the_starter_template_is_published_and_served(core: Core) -> None:
    from bot.admin.flows import starter_source

    published = await core.flow_console.publish(None, starter_source("spring_offer", "Spring offer"), author="ana",
                                                note="", expected_head=0)  # fmt: skip
    assert published.filename == "spring_offer.yaml"
    assert core.registry.current("spring_offer") is not None
    with pytest.raises(FlowRefused, match="exists already"):
        await core.flow_console.publish(None, starter_source("spring_offer", "x"), author="ana", note="",
                                        expected_head=0)  # fmt: skip


async def test_a_file_saved_while_running_is_published_by_the_hot_reload(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    settings = make_settings(tmp_path, database_url, flows_dir, flows={"dir": str(flows_dir), "hot_reload": True})
    core = await open_core(settings, clock)
    await core.start_background()
    try:
        nps = flows_dir / "nps.yaml"
        await eventually(
            lambda: core.registry.current("nps").source.count("to a friend?") == 1,  # type: ignore[union-attr]
            lambda: nps.write_text(nps.read_text().replace("to a friend or colleague", "to a friend")),
        )
        head = (await core.flowstore.heads())["nps"]
        assert (head.number, head.origin) == (2, "file")
    finally:
        await core.close()


# ---- retiring ---------------------------------------------------------------------------------------


async def test_a_retired_flow_is_served_by_no_instance_until_its_file_is_edited_or_it_is_restored(
    core: Core, settings: Settings, clock: FixedClock, flows_dir: Path
) -> None:
    other = await open_core(settings, clock)
    try:
        assert "to recommend our service" in await Chat(core).say("/nps")
        no_resurvey = ResurveySettings(enabled=False)  # else the re-survey names nps, and it cannot be retired
        core.settings.put_in_force("resurvey", no_resurvey)
        retired = await core.flow_console.retire("nps", author="ana", expected_head=1, campaigns={})
        assert (retired.number, retired.retired, retired.origin) == (2, True, "retire")
        assert core.registry.current("nps") is None
        assert "I don't know the command /nps." in await Chat(core, address="c2").say("/nps")
        await other.poll_saved()
        assert other.registry.current("nps") is None
        restarted = await open_core(settings, clock)  # the file is unchanged: it stays retired
        assert restarted.registry.current("nps") is None
        await restarted.close()
        assert [h.flow_id for h in await core.flow_console.retired()] == ["nps"]

        await core.flow_console.rollback("nps", 1, author="ana")  # Restore on the flow list
        assert core.registry.current("nps") is not None
        core.settings.put_in_force("resurvey", no_resurvey)  # the restarted instance put config.yaml's back (shared)
        await core.flow_console.retire("nps", author="ana", expected_head=3, campaigns={})
        nps = flows_dir / "nps.yaml"
        nps.write_text(nps.read_text().replace("to a friend or colleague", "to a friend"), encoding="utf-8")
        assert await core.load_flows(import_files=True) == []  # an edited file is published again
        assert core.registry.current("nps") is not None
        assert (await core.flowstore.heads())["nps"].number == 5
    finally:
        await other.close()


async def test_a_flow_another_flow_or_a_campaign_names_is_not_retired(core: Core) -> None:
    with pytest.raises(FlowRefused, match="flow cancellation, flow csat, flow onboarding still name it"):
        await core.flow_console.retire("complaint", author="ana", expected_head=1, campaigns={})
    campaign = Campaign(flow="nps")
    with pytest.raises(FlowRefused, match="campaign survey, playbook resurvey still name it: change them first"):
        await core.flow_console.retire("nps", author="ana", expected_head=1, campaigns={"survey": campaign})
    with pytest.raises(FlowRefused, match="playbook winback still names it"):
        await core.flow_console.retire("winback_offer", author="ana", expected_head=1, campaigns={})
    core.settings.put_in_force("winback", core.settings.winback.model_copy(update={"enabled": False}))
    await core.flow_console.retire("winback_offer", author="ana", expected_head=1, campaigns={})  # a practice off
    assert core.registry.current("complaint") is not None and core.registry.current("nps") is not None
