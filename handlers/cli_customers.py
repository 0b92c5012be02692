"""`engagebot customers import|show|export|delete`: customer data in from a CSV file, and out again."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click

from bot.core import Core
from bot.customers.actions import CustomerActions
from bot.customers.importer import ImportFileError, ImportReport
from bot.customers.privacy import CustomerRef
from bot.customers.views import ImportOutcome
from handlers.cli_support import customer_ref_or_fail, fail, run_async, settings_or_exit, with_core

T = TypeVar("T")


@contextmanager
def _progress(path: Path) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal (never in pipes, logs or CI)."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        lines = max(path.read_bytes().count(b"\n"), 1)
    except OSError:
        yield None
        return
    with click.progressbar(length=lines, label="importing", file=sys.stderr) as bar:
        yield lambda done: bar.update(min(done, lines) - bar.pos)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check the file and count what would change; save nothing")
@click.pass_context
def customers_import(ctx: click.Context, file: Path, dry_run: bool) -> None:
    """Create or update customers from a CSV file, matched by its external_id column.

    Bad rows are listed as FILE:LINE: problem and skipped; the rest are imported. Importing the same
    file again changes nothing. A customer who opted out in chat stays opted out whatever the file says.
    Exit 0 when the file was processed (even with bad rows), 1 when it could not be read."""

    async def job(core: Core) -> ImportOutcome:
        with _progress(file) as progress:
            return await core.customers.import_csv(file, dry_run=dry_run, progress=progress)

    try:
        outcome = run_async(lambda: with_core(settings_or_exit(ctx), job, flows=False))
    except ImportFileError as exc:
        fail(str(exc))
    for line in outcome.report.problem_lines():
        click.echo(line)
    for line in summary(outcome.report, outcome.tiers):
        click.echo(line)


def summary(report: ImportReport, tier_counts: dict[str, int] | None) -> list[str]:
    bad = len(report.bad)
    verb = "would be " if report.dry_run else ""
    lines = [
        f"{report.path}: {report.rows} row{'s' if report.rows != 1 else ''}: {report.created} {verb}created, "
        f"{report.updated} {verb}updated, {report.unchanged} unchanged, {bad} bad row{'s' if bad != 1 else ''} skipped"
    ]
    if report.identities_added:
        lines.append(f"{report.identities_added} Telegram chat{'s' if report.identities_added != 1 else ''} linked")
    if report.kept_opted_out:
        lines.append(
            f"{report.kept_opted_out} customer{'s' if report.kept_opted_out != 1 else ''} opted out in chat and "
            "stay unsubscribed: their own choice wins over subscribed in the file"
        )
    if report.ignored_columns:
        lines.append(f"ignored columns without a header: {', '.join(map(str, report.ignored_columns))}")
    if tier_counts is not None:
        lines.append("tiers: " + (", ".join(f"{t} {n}" for t, n in sorted(tier_counts.items())) or "no customers"))
    if report.dry_run:
        lines.append("dry run: nothing was saved")
    return lines


def _for_customer(
    ctx: click.Context, ref: str, act: Callable[[CustomerActions, CustomerRef], Awaitable[T | None]]
) -> T:
    """`act` on the customer REF names (one unit of work in the core); exit 1 if REF is malformed or names nobody."""
    parsed = customer_ref_or_fail(ref)

    async def job(core: Core) -> T | None:
        return await act(core.customers, parsed)

    found = run_async(lambda: with_core(settings_or_exit(ctx), job, flows=False))
    if found is None:
        fail(f"no customer {ref}")
    return found


# customers show: the profile's fields in this order, and what each is called when it is not its own name
SHOWN = ("external_id", "display_name", "email", "phone", "language", "timezone", "tier", "subscribed",
         "opted_out_at", "unreachable", "created_at", "last_seen_at", "last_active_at")  # fmt: skip
LABELS = {"display_name": "name", "external_id": "external id", "opted_out_at": "opted out"}


@click.command("show")
@click.argument("ref")
@click.pass_context
def customers_show(ctx: click.Context, ref: str) -> None:
    """A customer's profile, channels and attributes. REF is a customer id (42) or ext:<external_id>."""
    profile = _for_customer(ctx, ref, CustomerActions.profile)
    click.echo(f"customer #{profile.id}")
    for key in SHOWN:
        click.echo(f"{LABELS.get(key, key.replace('_', ' '))}: {_shown(getattr(profile, key))}")
    channels = [f"{i.channel}:{i.address}" for i in profile.identities]
    click.echo(f"channels: {', '.join(channels) or '- (not linked to a chat yet)'}")
    click.echo(f"tags: {', '.join(profile.tags or []) or '-'}")
    click.echo("attributes:" + ("" if profile.attributes else " -"))
    for name, value in sorted(profile.attributes.items()):
        click.echo(f"  {name}: {json.dumps(value, ensure_ascii=False)}")


def _shown(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()  # as the API and the export write it
    return "yes" if value is True else "no" if value is False else "-" if value in (None, "") else value


@click.command("export")
@click.argument("ref")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="write to FILE, not stdout")
@click.pass_context
def customers_export(ctx: click.Context, ref: str, output: Path | None) -> None:
    """Everything stored about a customer, as JSON (for an access request). REF is an id or ext:<external_id>."""
    exported = _for_customer(ctx, ref, CustomerActions.export)
    text = json.dumps(exported.to_json(), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        # Personal data: readable by the owner only.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"customer #{exported.customer['id']}: {len(text.encode())} bytes written to {output}", err=True)


@click.command("delete")
@click.argument("ref")
@click.option("--yes", is_flag=True, help="do not ask (needed when stdin is not a terminal)")
@click.pass_context
def customers_delete(ctx: click.Context, ref: str, yes: bool) -> None:
    """Erase a customer and everything stored about them (a deletion request). Cannot be undone.

    REF is a customer id (42) or ext:<external_id>."""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"refusing to delete {ref} without --yes (stdin is not a terminal to ask you)")
        profile = _for_customer(ctx, ref, CustomerActions.profile)
        who = f"customer #{profile.id}" + (f" ({profile.display_name})" if profile.display_name else "")
        click.confirm(f"Delete {who} and everything stored about them? This cannot be undone", abort=True)
    erased = _for_customer(ctx, ref, CustomerActions.erase)
    rows = ", ".join(f"{table} {n}" for table, n in sorted(erased.rows.items()) if n and table != "customers")
    click.echo(f"deleted customer #{erased.customer_id}" + (f" and their rows: {rows}" if rows else ""))
