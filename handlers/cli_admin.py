"""`engagebot admin add|list|remove` (console accounts) and `engagebot flows import|export` (the flow store)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from bot.admin.accounts import AccountError, Role
from bot.config import Settings
from bot.core import Core
from handlers.cli_support import local_time, run_async, settings_or_exit, with_core


def _change_or_exit(settings: Settings, job: Callable[[Core], Awaitable[None]]) -> None:
    """Run an account change; a refusal (a taken name, a short password) is one line and exit status 1."""
    try:
        run_async(lambda: with_core(settings, job, flows=False))
    except AccountError as exc:
        click.echo(f"engagebot: {exc}", err=True)
        sys.exit(1)


@click.group()
def admin() -> None:
    """Accounts of the admin console at /admin (it is off until one exists)."""


@admin.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([r.name for r in Role]),
    required=True,
    help="viewer reads; editor also edits flows and campaigns; admin also manages accounts",
)
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@click.pass_context
def admin_add(ctx: click.Context, name: str, role: str, password_stdin: bool) -> None:
    """Create a console account; the password is asked for (or read from stdin)."""
    settings = settings_or_exit(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def job(core: Core) -> None:
        await core.admin_accounts.add(name, role, password)

    _change_or_exit(settings, job)
    click.echo(f"account {name} added ({role}); sign in at {settings.public_url}/admin")


@admin.command("list")
@click.pass_context
def admin_list(ctx: click.Context) -> None:
    """The console's accounts and their roles."""
    settings = settings_or_exit(ctx)

    async def job(core: Core):  # type: ignore[no-untyped-def]
        return await core.admin_accounts.list()

    accounts = run_async(lambda: with_core(settings, job, flows=False))
    if not accounts:
        click.echo("no accounts: the console is off (engagebot admin add NAME --role admin)")
    for account in accounts:
        click.echo(f"{account.name:<24} {account.role.name:<8} since {local_time(settings, account.created_at)}")


@admin.command("remove")
@click.argument("name")
@click.pass_context
def admin_remove(ctx: click.Context, name: str) -> None:
    """Remove a console account and sign out its sessions."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> None:
        await core.admin_accounts.remove(name)

    _change_or_exit(settings, job)
    click.echo(f"account {name} removed")


@click.command("import")
@click.argument("directory", required=False, type=click.Path(file_okay=False, exists=True))
@click.option("--force", is_flag=True, help="publish an edited file even over a change made in the console")
@click.pass_context
def flows_import(ctx: click.Context, directory: str | None, force: bool) -> None:
    """Publish the flow files of DIRECTORY (default: flows.dir) that changed; exit 1 if any is refused."""
    settings = settings_or_exit(ctx)
    folder = Path(directory) if directory else settings.flows_dir

    async def job(core: Core):  # type: ignore[no-untyped-def]
        from bot.conversations.registry import FlowRegistry

        found, problems = FlowRegistry(folder).read_folder()
        return await core.flowstore.sync_files(found.values(), folder, force=force), problems

    synced, problems = run_async(lambda: with_core(settings, job, flows=False))
    for published in synced.imported:
        click.echo(f"{published.flow_id}: published as version {published.number} (from {published.filename})")
    for flow_id in synced.in_sync:
        click.echo(f"{flow_id}: unchanged")
    for head in synced.behind:
        click.echo(
            f"{head.flow_id}: the file is older than version {head.number} (by {head.author}); "
            "`engagebot flows export` writes it back"
        )
    for problem in [*problems, *synced.conflicts]:
        click.echo(str(problem), err=True)
    if problems or synced.conflicts:
        sys.exit(1)


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.pass_context
def flows_export(ctx: click.Context, directory: str) -> None:
    """Write every published flow (its newest version) to DIRECTORY, e.g. to commit it to git."""
    settings = settings_or_exit(ctx)
    folder = Path(directory)

    async def heads_of(core: Core):  # type: ignore[no-untyped-def]
        return [head for head in (await core.flowstore.heads()).values() if not head.retired]  # retired: no file

    heads = run_async(lambda: with_core(settings, heads_of, flows=False))
    if not heads:
        click.echo("no published flows yet (they are imported from flows/ when `engagebot run` starts)")
        return
    folder.mkdir(parents=True, exist_ok=True)
    for head in heads:
        (folder / head.filename).write_text(head.source, encoding="utf-8")
        click.echo(f"{folder / head.filename}: {head.flow_id} version {head.number}")
    if folder.resolve() == settings.flows_dir.resolve():

        async def mark(core: Core) -> None:
            # The files now hold the heads: a later edit of one is an edit on top of its head.
            for head in heads:
                await core.flowstore.mark(head.flow_id, head.version)

        run_async(lambda: with_core(settings, mark, flows=False))
