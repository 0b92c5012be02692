"""`engagebot incidents`: tell the customers a known problem affects before they find out, keep them posted, and see
who was told and who complained. The running server's dispatcher sends the notices; these commands queue them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from bot.core import Core
from bot.incidents.actions import SEVERITIES, IncidentError, parse_audience
from bot.incidents.timing import parse_moment
from bot.incidents.views import IncidentLine, IncidentReport, Posted
from handlers.cli_support import count, fail, local_time, run_async, settings_or_exit, with_core

T = TypeVar("T")
SHOWN_CUSTOMERS = 20  # affected customers listed by `show` (all of them with --json)


@click.group()
def incidents() -> None:
    """Known problems: tell the affected customers first, post updates, resolve, report."""


def _act(ctx: click.Context, act: Callable[[Core], Awaitable[T]]) -> T:
    settings = settings_or_exit(ctx)
    try:
        return run_async(lambda: with_core(settings, act, flows=False))
    except IncidentError as exc:
        fail(str(exc))


def _moment(ctx: click.Context, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_moment(text, datetime.now(UTC), settings_or_exit(ctx).business.zone)
    except ValueError as exc:
        fail(f"--next-update: {exc}", 2)


def _posted(ctx: click.Context, what: str, posted: Posted) -> None:
    line = posted.incident
    click.echo(f"incident #{line.id} {what}: {line.title}")
    newly = f" ({posted.newly_affected:,} found now)" if posted.newly_affected and what != "opened" else ""
    click.echo(
        f"affected: {count(posted.affected, 'customer')}{newly}; notice queued for {count(posted.queued, 'customer')}"
    )
    click.echo("the running server (engagebot run) sends it: to those who can be messaged, after their quiet hours "
               "unless the severity is critical")  # fmt: skip


@incidents.command("open")
@click.option("--title", required=True, help="what customers see first")
@click.option("--what-happened", required=True)
@click.option("--what-we-do", "what_we_do", required=True, help="what we are doing about it")
@click.option("--next-update", default=None, help="when the next update comes: 2026-12-04 18:00, or 2h")
@click.option("--severity", type=click.Choice(SEVERITIES), default="normal", show_default=True,
              help="critical is sent at once, even in quiet hours")  # fmt: skip
@click.option("--tier", "tiers", multiple=True, help="affected tier (repeatable)")
@click.option("--tag", "tags", multiple=True, help="affected customers have this tag (repeatable: all of them)")
@click.option(
    "--when", default=None, help="a condition over customer, as a campaign's: customer.attributes.city == 'Leeds'"
)
@click.option("--event", default=None, help="affected customers had this event (e.g. order_shipped)...")
@click.option("--since", default=None, help="...on or after this date or moment")
@click.option("--until", default=None, help="...on or before this date or moment")
@click.option("--where", default=None, help="...and its data passes this: event.data.warehouse == 'LDS'")
@click.option("--all", "everyone", is_flag=True, help="every customer is affected")
@click.option("--by", default="", help="who opens it (for the record)")
@click.pass_context
def incidents_open(
    ctx: click.Context, title: str, what_happened: str, what_we_do: str, next_update: str | None, severity: str,
    tiers: tuple[str, ...], tags: tuple[str, ...], when: str | None, event: str | None, since: str | None,
    until: str | None, where: str | None, everyone: bool, by: str,
) -> None:  # fmt: skip
    """Open an incident and queue its notice for the affected customers."""
    audience: dict[str, Any] = {"tiers": list(tiers), "tags": list(tags), "when": when, "all": everyone}
    if event:
        audience["event"] = {"name": event, "since": since, "until": until, "where": where}
    elif since or until or where:
        fail("--since, --until and --where describe an --event: name it", 2)
    try:
        spec = parse_audience(audience)
    except IncidentError as exc:
        fail(str(exc), 2)
    moment = _moment(ctx, next_update)
    posted = _act(ctx, lambda core: core.incidents.open(
        title=title, what_happened=what_happened, what_we_do=what_we_do, audience=spec, next_update_at=moment,
        severity=severity, by=by,
    ))  # fmt: skip
    _posted(ctx, "opened", posted)


@incidents.command("update")
@click.argument("incident_id", type=int)
@click.option("--text", "-m", required=True, help="the update the customers read")
@click.option("--next-update", default=None, help="when the next one comes: 2026-12-04 18:00, or 2h")
@click.option("--what-we-do", "what_we_do", default=None, help="replace what we are doing")
@click.option("--by", default="")
@click.pass_context
def incidents_update(ctx: click.Context, incident_id: int, text: str, next_update: str | None,
                     what_we_do: str | None, by: str) -> None:  # fmt: skip
    """Post an update to the customers the incident affects."""
    moment = _moment(ctx, next_update)
    posted = _act(ctx, lambda core: core.incidents.update(incident_id, text, next_update_at=moment, by=by,
                                                           what_we_do=what_we_do))  # fmt: skip
    _posted(ctx, "updated", posted)


@incidents.command("resolve")
@click.argument("incident_id", type=int)
@click.option("--text", "-m", required=True, help="what was done (the customers read it)")
@click.option("--by", default="")
@click.pass_context
def incidents_resolve(ctx: click.Context, incident_id: int, text: str, by: str) -> None:
    """Resolve it: the affected customers hear it is over."""
    _posted(ctx, "resolved", _act(ctx, lambda core: core.incidents.resolve(incident_id, text, by=by)))


@incidents.command("list")
@click.option("--status", type=click.Choice(["open", "resolved"]), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incidents_list(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """The latest incidents, newest first."""
    lines: list[IncidentLine] = _act(ctx, lambda core: core.incidents.list(status=status))
    if as_json:
        click.echo(json.dumps([line.to_json() for line in lines], indent=2))
        return
    if not lines:
        click.echo("no incidents")
    settings = settings_or_exit(ctx)
    for line in lines:
        click.echo(f"#{line.id}  {line.status:<8} {line.severity:<8} {local_time(settings, line.opened_at)}  "
                   f"{line.title}  ({line.affected:,} affected, {line.notified:,} notified)")  # fmt: skip


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incidents_show(ctx: click.Context, incident_id: int, as_json: bool) -> None:
    """Who was affected and notified, the notices, the complaints linked to it and their CSAT."""
    report: IncidentReport = _act(ctx, lambda core: core.incidents.show(incident_id))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    settings = settings_or_exit(ctx)
    line = report.line
    click.echo(f"incident #{line.id}: {line.title}")
    click.echo(
        f"status: {line.status}, severity {line.severity}; opened {local_time(settings, line.opened_at)}"
        + (f", resolved {local_time(settings, line.resolved_at)}" if line.resolved_at else "")
        + (f"; next update {local_time(settings, line.next_update_at)}" if line.next_update_at else "")
    )
    click.echo(f"what happened: {report.what_happened}")
    click.echo(f"what we are doing: {report.what_we_do}")
    click.echo(f"affected: {report.audience}")
    click.echo(f"customers: {line.affected:,} affected, {line.notified:,} notified")
    for why, n in report.not_notified.items():
        click.echo(f"  not notified: {why}: {n:,}")
    for who in report.customers[:SHOWN_CUSTOMERS]:
        told = f"{count(who['notified'], 'notice')} received" if who["notified"] else "not notified"
        why = f" ({who['not_notified_because']})" if who["not_notified_because"] else ""
        click.echo(f"  customer #{who['customer_id']}: {told}{why}")
    if len(report.customers) > SHOWN_CUSTOMERS:
        click.echo(f"  ... and {len(report.customers) - SHOWN_CUSTOMERS:,} more (--json lists them all)")
    click.echo("notices:")
    for notice in report.notices:
        body = f": {notice['body']}" if notice["body"] else ""
        click.echo(f"  {notice['seq']} {notice['kind']}{body}")
    click.echo(f"complaints: {len(report.complaints)}")
    for c in report.complaints:
        score = f", CSAT {c.csat}/5" if c.csat is not None else ""
        click.echo(f"  {c.ref} customer #{c.customer_id} {c.status}{score}: {c.summary}")
    csat = (
        f"{report.csat_average:g}/5 ({count(report.csat_responses, 'answer')})" if report.csat_average else "no answers"
    )
    click.echo(f"CSAT of the complaints: {csat}")
