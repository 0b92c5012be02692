"""`engagebot init [DIR]`: a local copy of the embedded defaults to edit (config.yaml and the starter flows)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from bot.config import DEFAULT_CONFIG_NAME
from bot.config.starter import default_config_file, starter_flows_dir
from handlers.cli_support import NOT_FOUND, fail


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Write config.yaml (every setting at its default, each explained) and flows/ (the starter flows) into
    DIRECTORY (default: here), to edit. Existing files are never overwritten: nothing is written if one exists."""
    flows = sorted(starter_flows_dir().glob("*.yaml"))
    copies = {default_config_file(): directory / DEFAULT_CONFIG_NAME}
    copies.update({source: directory / "flows" / source.name for source in flows})
    existing = [str(target) for target in copies.values() if target.exists()]
    if existing:
        fail(f"not overwriting {', '.join(existing)}: move {'it' if len(existing) == 1 else 'them'} away, or run "
             "`engagebot init` in another folder", NOT_FOUND)  # fmt: skip
    (directory / "flows").mkdir(parents=True, exist_ok=True)
    for source, target in copies.items():
        shutil.copyfile(source, target)
    there = "" if directory == Path(".") else f" in {directory}"
    click.echo(f"wrote {DEFAULT_CONFIG_NAME} and flows/ ({len(flows)} starter flows){there or ' here'}: edit them, "
               f"then run `engagebot run`{there} (flows reload as you save)")  # fmt: skip
