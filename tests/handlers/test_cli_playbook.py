"""`engagebot playbook show` and `engagebot playbook import`, run as a shell runs them (tests/support/cli.py): the
sections in force with where they come from, a console save shown as such, and a config.yaml edit over it refused
until --force."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_settings
from bot.core import Core
from tests.support.cli import engagebot

CONFIG = "winback:\n  steps:\n    - {after_days: 5, flow: winback_ask}\n"


async def test_show_the_sections_then_a_console_save_and_a_refused_config_edit(
    tmp_path: Path, database_url: str, flows_dir: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"flows: {{dir: {flows_dir}}}\n{CONFIG}", encoding="utf-8")
    shown = engagebot(tmp_path, "playbook", "show", "winback", "--yaml", database_url=database_url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("winback (on): version 1 (config.yaml, ")
    assert "On: after a cancellation, day 5 “winback_ask”." in shown.stdout
    assert "winback:\n  steps:\n  - after_days: 5.0\n    flow: winback_ask\n" in shown.stdout

    core = Core(load_settings(config, env={"DATABASE_URL": database_url}))
    try:
        assert await core.prepare() == []  # the flows too: a save is checked against them
        data = core.settings.winback.model_dump(mode="json") | {"enabled": False}
        await core.playbook_console.save("winback", data, author="ana", expected_head=1)
    finally:
        await core.close()
    shown = engagebot(tmp_path, "playbook", "show", "winback", database_url=database_url)
    assert shown.stdout.startswith("winback (off): version 2 (console, ana, ")

    config.write_text(config.read_text().replace("after_days: 5", "after_days: 6"), encoding="utf-8")
    refused = engagebot(tmp_path, "playbook", "import", database_url=database_url)
    assert refused.returncode == 1
    assert 'refused: section "winback": config.yaml was edited' in refused.stderr
    forced = engagebot(tmp_path, "playbook", "import", "--force", database_url=database_url)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout == "winback: version 3, imported from config.yaml (--force, over a console change)\n"
    assert (
        "winback (on): version 3 (config.yaml"
        in engagebot(tmp_path, "playbook", "show", database_url=database_url).stdout
    )
