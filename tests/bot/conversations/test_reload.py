"""Editing flows while the bot runs: valid edits go live, invalid ones are refused, conversations finish as begun."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Settings
from bot.conversations.registry import FlowRegistry
from bot.conversations.reload import watch_flows
from bot.core import Core
from tests.conftest import Chat, FixedClock

NPS_FOLLOW_UP = "Thank you, that means a lot! What do you like most about us?"
NPS_THANKS = "Thank you for your feedback. It goes straight to the team."

HINT = "flow: hint\ntriggers:\n  - command: /hint\nsteps:\n  - say: {text}\n"


def edit(path: Path, old: str, new: str) -> None:
    """Change one piece of text in a flow file, as an admin would in an editor."""
    source = path.read_text(encoding="utf-8")
    assert old in source, f"{old!r} is not in {path.name}; the starter flow changed"
    path.write_text(source.replace(old, new), encoding="utf-8")


def say_text(registry: FlowRegistry, flow_id: str) -> str:
    lf = registry.current(flow_id)
    assert lf is not None, f"flow {flow_id} is not in force"
    return lf.flow.steps[0].say  # type: ignore[union-attr]


@pytest.fixture
def registry(flows_dir: Path) -> FlowRegistry:
    registry = FlowRegistry(flows_dir)
    assert registry.load() == []
    return registry


# ---- FlowRegistry.load() --------------------------------------------------------------------------


def test_a_valid_edit_is_swapped_in(registry: FlowRegistry, flows_dir: Path) -> None:
    before, generation = registry.current("nps"), registry.generation
    assert before is not None
    edit(flows_dir / "nps.yaml", NPS_THANKS, "Thanks, that really helps!")

    assert registry.load() == []
    after = registry.current("nps")
    assert after is not None and after.version != before.version
    assert "Thanks, that really helps!" in after.source
    assert registry.generation == generation + 1
    # The version it replaced is still known, for conversations that started on it.
    assert registry.version("nps", before.version) is before


def test_reloading_unchanged_files_changes_nothing(registry: FlowRegistry) -> None:
    generation, indexes = registry.generation, registry.indexes
    assert registry.load() == []
    assert (registry.generation, registry.indexes) == (generation, indexes)


def test_a_new_file_is_picked_up_with_its_command(registry: FlowRegistry, flows_dir: Path) -> None:
    (flows_dir / "hint.yaml").write_text(HINT.format(text="Hint one"), encoding="utf-8")
    assert registry.load() == []
    assert say_text(registry, "hint") == "Hint one"
    assert registry.indexes.commands["/hint"] == "hint"


def test_an_invalid_edit_is_refused_and_the_last_good_version_keeps_serving(
    registry: FlowRegistry, flows_dir: Path
) -> None:
    before, generation = registry.current("nps"), registry.generation
    edit(flows_dir / "nps.yaml", "expect: yes_no", "expect: yes_or_no")

    problems = registry.load()
    assert len(problems) == 1
    assert problems[0].path == str(flows_dir / "nps.yaml")
    assert "'yes_or_no' is not one of" in problems[0].message and '(did you mean "yes_no"?)' in problems[0].message
    assert registry.current("nps") is before
    assert registry.generation == generation
    assert registry.indexes.commands["/nps"] == "nps"


def test_a_refused_edit_is_accepted_once_it_is_fixed(registry: FlowRegistry, flows_dir: Path) -> None:
    path = flows_dir / "hint.yaml"
    path.write_text(HINT.format(text="Version one"), encoding="utf-8")
    assert registry.load() == []
    path.write_text(HINT.format(text="Version {{ two"), encoding="utf-8")
    assert [p.line for p in registry.load()] == [5]
    assert say_text(registry, "hint") == "Version one"
    path.write_text(HINT.format(text="Version two"), encoding="utf-8")
    assert registry.load() == []
    assert say_text(registry, "hint") == "Version two"


def test_a_new_file_that_is_invalid_is_not_loaded_and_the_others_keep_serving(
    registry: FlowRegistry, flows_dir: Path
) -> None:
    in_force = {lf.id for lf in registry.all()}
    (flows_dir / "hint.yaml").write_text("flow: hint\nsteps:\n  - sya: hi\n", encoding="utf-8")
    problems = registry.load()
    assert [(p.path, p.line) for p in problems] == [(str(flows_dir / "hint.yaml"), 3)]
    assert registry.current("hint") is None
    assert {lf.id for lf in registry.all()} == in_force


def test_deleting_a_file_removes_its_flow(registry: FlowRegistry, flows_dir: Path) -> None:
    generation = registry.generation
    assert registry.current("csat") is not None
    (flows_dir / "csat.yaml").unlink()
    assert registry.load() == []
    assert registry.current("csat") is None
    assert "/csat" not in registry.indexes.commands
    assert registry.generation == generation + 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(("command: /hint", "command: /nps"), "command /nps is already used by flow nps", id="command"),
        pytest.param(("flow: hint", "flow: nps"), 'flow id "nps" is already used by', id="flow id"),
        pytest.param(
            ("  - say: Hint one\n", "  - say: Hint two\n    buttons:\n      - {label: More, flow: nsp}\n"),
            'unknown flow "nsp" (did you mean "nps"?)',
            id="button to an unknown flow",
        ),
    ],
)
def test_an_edit_that_clashes_with_another_flow_is_refused(
    registry: FlowRegistry, flows_dir: Path, change: tuple[str, str], message: str
) -> None:
    """The edited file is the one refused; the flow it clashed with is untouched."""
    path = flows_dir / "hint.yaml"
    path.write_text(HINT.format(text="Hint one"), encoding="utf-8")
    assert registry.load() == []
    nps = registry.current("nps")
    assert nps is not None
    edit(path, *change)

    problems = registry.load()
    assert [p.path for p in problems] == [str(path)]
    assert message in problems[0].message
    assert say_text(registry, "hint") == "Hint one"
    assert (registry.current("nps").path, registry.current("nps").version) == (nps.path, nps.version)  # type: ignore[union-attr]
    assert registry.indexes.commands["/nps"] == "nps"
    assert registry.indexes.commands["/hint"] == "hint"


def test_a_new_file_naming_an_unknown_flow_is_not_loaded(registry: FlowRegistry, flows_dir: Path) -> None:
    path = flows_dir / "hint.yaml"
    path.write_text(HINT.format(text="Hi") + "    buttons:\n      - {label: Rate us, flow: csta}\n", encoding="utf-8")
    problems = registry.load()
    assert [str(p) for p in problems] == [f'{path}:7: unknown flow "csta" (did you mean "csat"?)']
    assert registry.current("hint") is None
    assert "/hint" not in registry.indexes.commands


def test_at_start_up_a_missing_flow_does_not_take_down_the_flows_linking_to_it(flows_dir: Path) -> None:
    (flows_dir / "complaint.yaml").unlink()
    registry = FlowRegistry(flows_dir)
    problems = registry.load()
    assert problems and all('unknown flow "complaint"' in p.message for p in problems)
    assert str(flows_dir / "onboarding.yaml") in {p.path for p in problems}
    assert registry.current("onboarding") is not None
    assert registry.current("complaint") is None


# ---- conversations in progress --------------------------------------------------------------------


async def test_a_conversation_in_progress_finishes_on_the_version_it_started_with(
    core: Core, chat: Chat, flows_dir: Path
) -> None:
    await chat.say("/nps")
    edit(flows_dir / "nps.yaml", NPS_FOLLOW_UP, "Great! What should we never change?")
    edit(flows_dir / "nps.yaml", NPS_THANKS, "Cheers, noted.")
    assert core.registry.load() == []

    assert NPS_FOLLOW_UP in await chat.say("9")
    assert NPS_THANKS in await chat.say("Quick answers")

    newcomer = Chat(core, address="customer-2")
    await newcomer.say("/nps")
    assert "Great! What should we never change?" in await newcomer.say("9")
    assert "Cheers, noted." in await newcomer.say("Quick answers")


async def test_deleting_a_flow_stops_new_conversations_but_running_ones_finish(
    core: Core, chat: Chat, flows_dir: Path
) -> None:
    assert "How satisfied were you" in await chat.say("/csat")
    (flows_dir / "csat.yaml").unlink()
    assert core.registry.load() == []

    assert "Is there anything you'd like to add?" in await chat.say("5")
    assert "Thanks for letting us know" in await chat.say("All good")
    assert "I don't know the command /csat." in await Chat(core, address="customer-2").say("/csat")


async def test_after_a_restart_an_old_run_continues_on_its_version_read_back_from_the_database(
    core: Core, chat: Chat, flows_dir: Path, settings: Settings, clock: FixedClock
) -> None:
    await chat.say("/nps")
    await core.close()
    edit(flows_dir / "nps.yaml", NPS_FOLLOW_UP, "Great! What should we never change?")

    restarted = Core(settings, clock=clock)
    try:
        assert await restarted.prepare() == []
        assert "Great! What should we never change?" in restarted.registry.current("nps").source  # type: ignore[union-attr]
        again = Chat(restarted)
        assert NPS_FOLLOW_UP in await again.say("9")
        assert NPS_THANKS in await again.say("Quick answers")
    finally:
        await restarted.close()


# ---- the file watcher -----------------------------------------------------------------------------


async def eventually(condition: Callable[[], bool], write: Callable[[], None]) -> None:
    """Write, then wait up to 5 s for `condition`; write again each second in case the watcher was not ready yet."""
    try:
        async with asyncio.timeout(5):
            while not condition():
                write()
                for _ in range(20):
                    if condition():
                        return
                    await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError("the watcher did not pick up the change within 5 seconds") from None


async def test_the_watcher_applies_valid_edits_and_refuses_invalid_ones(
    registry: FlowRegistry, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = flows_dir / "hint.yaml"
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_flows(registry, stop))
    try:
        await eventually(
            lambda: registry.current("hint") is not None,
            lambda: path.write_text(HINT.format(text="Hint one"), encoding="utf-8"),
        )
        await eventually(
            lambda: say_text(registry, "hint") == "Hint two",
            lambda: path.write_text(HINT.format(text="Hint two"), encoding="utf-8"),
        )
        generation = registry.generation

        with caplog.at_level(logging.ERROR, logger="bot.conversations.reload"):
            await eventually(
                lambda: "flow edit refused" in caplog.text,
                lambda: path.write_text(HINT.format(text="Hint {{ three"), encoding="utf-8"),
            )
        assert caplog.text.count(f"{path}:5: template error") == 1  # each refused edit is logged once
        assert say_text(registry, "hint") == "Hint two"
        assert registry.generation == generation

        await eventually(lambda: registry.current("hint") is None, lambda: path.unlink(missing_ok=True))
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)
    assert watcher.done() and watcher.exception() is None
