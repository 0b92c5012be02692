"""`engagebot reports NAME`: a report of the core's (bot/reports/) as a table, CSV or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import click

from bot.core import Core
from bot.reports import PERIODS, REPORTS, Report, ReportQuery, Row
from handlers.cli_support import run_async, settings_or_exit, with_core
from handlers.report_csv import cell, columns, to_csv

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command("reports")
@click.argument("name", type=click.Choice(sorted(REPORTS)))
@click.option("--since", type=DATE, help="first day (YYYY-MM-DD, business time zone); default: all time")
@click.option("--until", type=DATE, help="last day, included (YYYY-MM-DD); default: today")
@click.option("--by", "by", type=click.Choice(PERIODS), default="week", show_default=True, help="trend period")
@click.option("--tier", help="only customers of this tier (their tier now)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option(
    "--list", "which", help="the list a CSV holds: periods or one of the report's tables (default: its main one)"
)
@click.pass_context
def reports(ctx: click.Context, name: str, since: datetime | None, until: datetime | None, by: str,
            tier: str | None, fmt: str, which: str | None) -> None:  # fmt: skip
    """A report computed in the database: nps, csat, sla, complaints, churn, campaigns, flows, retention, crosssell
    (every figure is defined in docs/reports.md)."""
    show(ctx, name, make_query(since, until, by, tier), fmt, which)


def make_query(
    since: datetime | None, until: datetime | None, by: str = "week", tier: str | None = None
) -> ReportQuery:
    try:
        return ReportQuery(since.date() if since else None, until.date() if until else None, by, tier)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def show(ctx: click.Context, name: str, query: ReportQuery, fmt: str = "table", which: str | None = None) -> None:
    """Run one report and print it in `fmt`; `which` picks the list shown (a table's, or the CSV's)."""
    report = run_report(ctx, name, query)
    if which is not None and which not in report.lists:
        known = ", ".join(report.lists)
        raise click.BadParameter(f"{name} has no list {which!r}; it has: {known}", param_hint="--list")
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), indent=2, default=str))
    elif fmt == "csv":
        click.echo(to_csv(report.rows(which)), nl=False)
    else:
        click.echo(to_table(report, which))


def run_report(ctx: click.Context, name: str, query: ReportQuery) -> Report:
    async def job(core: Core) -> Report:
        return await core.reports.run(name, query)

    return run_async(lambda: with_core(settings_or_exit(ctx), job, flows=False))


def to_table(report: Report, which: str | None = None) -> str:
    """The figures as `name: value` lines, then each list (or only `which`) as aligned columns."""
    lines = [f"{report.name} {_range(report)}"]
    lines += [f"  {key}: {cell(value)}" for key, value in report.figures.items() if not isinstance(value, dict)]
    for key, value in report.figures.items():
        if isinstance(value, dict):
            lines.append(f"  {key}: " + ", ".join(f"{k} {cell(v)}" for k, v in value.items()))
    for list_name in [which] if which else report.lists:
        rows = report.rows(list_name)
        lines += ["", f"{list_name} ({len(rows)})"]
        lines += aligned(rows) if rows else ["  (none)"]
    return "\n".join(lines)


def aligned(rows: Sequence[Row]) -> list[str]:
    names = columns(rows)
    cells = [[cell(row.get(n)) for n in names] for row in rows]
    widths = [max(len(n), *(len(r[i]) for r in cells)) for i, n in enumerate(names)]
    out = ["  " + "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return out


def _range(report: Report) -> str:
    span = report.span
    tier = f", tier {span['tier']}" if span.get("tier") else ""
    return (
        f"({span.get('since') or 'all time'} to {span.get('until')}, by {span.get('by')}, {span.get('timezone')}{tier})"
    )
