"""`engagebot playbook`: the retention playbook's sections in force (config.yaml's, or newer ones saved in the
admin console), and importing config.yaml's edits into the settings store (docs/admin.md)."""

from __future__ import annotations

import click

from bot.admin.playbook_words import describe, enabled
from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.core import Core
from bot.storage.versioned import FROM_CONFIG, to_source
from handlers.cli_support import local_time, report_config_sync, run_async, settings_or_exit, with_core


@click.group()
def playbook() -> None:
    """The retention playbook's settings (config.yaml: winback, activation, crosssell, resurvey, rewards, incidents;
    and the admin console at /admin/playbook)."""


@playbook.command("show")
@click.argument("section", required=False, type=click.Choice(list(PLAYBOOK_SECTIONS)))
@click.option("--yaml", "as_yaml", is_flag=True, help="print each section as YAML, to copy into config.yaml")
@click.pass_context
def playbook_show(ctx: click.Context, section: str | None, as_yaml: bool) -> None:
    """Each section in force: what it does, its version, and where it comes from (config.yaml or the console)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> None:
        for conflict in core.section_sync.conflicts:
            click.echo(f"warning: {conflict}", err=True)
        heads = await core.section_store.heads()
        for name in [section] if section else PLAYBOOK_SECTIONS:
            value, head = getattr(core.settings, name), heads[name]
            state = {True: "on", False: "off", None: ""}[enabled(value)]
            origin = "config.yaml" if head.origin == FROM_CONFIG else f"console, {head.author}"
            click.echo(f"{name}{' (' + state + ')' if state else ''}: version {head.number} ({origin}, "
                       f"{local_time(core.settings, head.saved_at)})")  # fmt: skip
            click.echo(f"  {describe(value, lambda flow_id: flow_id)}")
            if as_yaml:
                click.echo(f"{name}:")
                click.echo("".join(f"  {line}\n" for line in (to_source(value) or "{}\n").splitlines()), nl=False)

    run_async(lambda: with_core(settings, job, flows=False))


@playbook.command("import")
@click.option("--force", is_flag=True, help="import config.yaml's edits even over a change made in the console")
@click.pass_context
def playbook_import(ctx: click.Context, force: bool) -> None:
    """Import config.yaml's playbook sections into the settings store (done at every start too)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> None:
        if force:
            await core.load_sections(import_config=True, force=True)
        report_config_sync(core.section_sync, "nothing to import: the settings store holds config.yaml's sections")

    run_async(lambda: with_core(settings, job, flows=False))
