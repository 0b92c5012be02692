"""`engagebot campaigns`: list, preview, send and follow campaigns. Sending here only plans the messages;
the running server's dispatcher delivers them within the delivery policy."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import click

from bot.config import Campaign, Settings
from bot.core import Core
from bot.outreach.campaigns import catalog
from bot.outreach.campaigns.actions import CampaignPreview
from bot.outreach.campaigns.catalog import CampaignError, RunProgress
from bot.outreach.campaigns.planning import next_runs, schedule_entries
from bot.outreach.delivery.policy import quiet_hours_note
from handlers.cli_support import (
    count,
    fail,
    local_time,
    page_footer,
    report_config_sync,
    run_async,
    settings_or_exit,
    with_core,
)


@click.group()
def campaigns() -> None:
    """Proactive campaigns (config.yaml: campaigns, and the admin console): who gets what, and when."""


@campaigns.command("import")
@click.option("--force", is_flag=True, help="import config.yaml's edits even over a change made in the console")
@click.pass_context
def campaigns_import(ctx: click.Context, force: bool) -> None:
    """Import config.yaml's campaigns into the campaign store (done at every start too; see docs/admin.md)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> None:
        if force:
            await core.load_campaigns(import_config=True, force=True)
        # The import every start does:
        report_config_sync(core.campaign_sync, "nothing to import: the campaign store holds config.yaml's campaigns")

    run_async(lambda: with_core(settings, job, flows=False))


def live_settings(ctx: click.Context) -> Settings:
    """The settings with the campaigns in force: config.yaml's imported into the campaign store (docs/admin.md), then
    the store's, which the console edits."""
    settings = settings_or_exit(ctx)

    async def loaded(core: Core) -> None:
        for conflict in core.campaign_sync.conflicts:
            click.echo(f"warning: {conflict}", err=True)

    run_async(lambda: with_core(settings, loaded, flows=False))
    return settings


def _campaign_or_exit(settings: Settings, name: str, *, enabled: bool = False) -> Campaign:
    try:
        return catalog.get(settings.campaigns, name, enabled=enabled)
    except CampaignError as exc:
        fail(str(exc))


def audience_summary(campaign: Campaign) -> str:
    spec = campaign.audience
    parts = [f"tiers {', '.join(spec.tiers)}" if spec.tiers else "every tier"]
    if spec.tags:
        parts.append(f"tagged {', '.join(spec.tags)}")
    if spec.inactive_days is not None:
        parts.append(f"inactive {spec.inactive_days:g}+ days")
    if spec.when:
        parts.append(f"when {spec.when}")
    if campaign.repeat_after_days is not None:
        parts.append(f"not again within {campaign.repeat_after_days:g} days")
    return "; ".join(parts)


def _content(campaign: Campaign) -> str:
    return f"starts flow {campaign.flow}" if campaign.flow else "a message"


# ---- list ---------------------------------------------------------------------------------------


@campaigns.command("list")
@click.pass_context
def campaigns_list(ctx: click.Context) -> None:
    """Every campaign: its kind, audience, and schedule with the next run per tier."""
    settings = live_settings(ctx)
    if not settings.campaigns:
        click.echo("no campaigns (add some under `campaigns:` in config.yaml)")
        return
    upcoming = {(o.campaign, o.entry): o.at for o in next_runs(settings, datetime.now(UTC))}
    zone = settings.business.timezone
    for name, campaign in settings.campaigns.items():
        state = "" if campaign.enabled else "  (disabled)"
        title = f"  {campaign.title}" if campaign.title else ""
        click.echo(f"{name}  [{campaign.kind}, {_content(campaign)}]{state}{title}")
        click.echo(f"  audience: {audience_summary(campaign)}")
        for entry, expression, _tiers in schedule_entries(campaign):
            who = "other tiers" if entry == "*" else entry
            click.echo(f"  {who:<12} {expression:<20} next {local_time(settings, upcoming.get((name, entry)))} {zone}")
        if campaign.at is not None:
            click.echo(f"  once at {local_time(settings, campaign.at)} {zone}")
        if not campaign.schedule and campaign.at is None:
            click.echo("  no schedule: sent with `engagebot campaigns send`")


# ---- preview ------------------------------------------------------------------------------------


@campaigns.command("preview")
@click.argument("name")
@click.option("--sample", "size", default=3, show_default=True, help="how many customers' messages to show")
@click.pass_context
def campaigns_preview(ctx: click.Context, name: str, size: int) -> None:
    """How many customers NAME would reach now, per tier, who is left out, and a sample of the messages."""
    settings = live_settings(ctx)
    campaign = _campaign_or_exit(settings, name)

    async def job(core: Core) -> CampaignPreview:
        return await core.campaigns.preview(name, size)

    try:
        preview = run_async(lambda: with_core(settings, job))
    except CampaignError as exc:
        fail(str(exc))
    found = preview.audience
    quiet = quiet_hours_note(settings.outreach, settings.business.zone, datetime.now(UTC))
    if quiet is not None:
        click.echo(f"warning: sent now, messages would be held. {quiet}", err=True)
    state = "" if campaign.enabled else " (disabled: send refuses it)"
    click.echo(f"{name}: {campaign.title or campaign.kind}, {_content(campaign)}{state}")
    click.echo(f"audience now: {count(found.size, 'customer')}")
    for tier, n in found.per_tier.items():
        click.echo(f"  {tier:<12} {n:>8}")
    if found.left_out:
        click.echo("left out: " + ", ".join(f"{n} {why}" for why, n in found.left_out.items()))
    if not preview.samples:
        return
    click.echo(f"sample ({'first message of the flow' if campaign.flow else 'the message'}):")
    for shown in preview.samples:
        who = f" {shown.display_name}" if shown.display_name else ""
        click.echo(f"  #{shown.customer_id}{who} ({shown.tier}):")
        for reply in shown.replies:
            click.echo("    " + reply.text.replace("\n", "\n    "))
            if reply.buttons:
                click.echo("    " + "  ".join(f"[{b.label}]" for b in reply.buttons))


# ---- send and status ----------------------------------------------------------------------------


class PlanningBar:
    """A progress bar over planning, opened at the first chunk (the total is known from then on)."""

    def __init__(self, label: str):
        self.label = label
        self.bar: Any = None
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return  # piped or logged: the summary line that follows is enough
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def describe(progress: RunProgress) -> list[str]:
    """The outbox rows by status, and the policy's verdicts with their reasons (times folded away)."""
    if not progress.outbox:
        return ["nothing queued"]
    lines = ["outbox: " + ", ".join(f"{n} {status}" for status, n in sorted(progress.outbox.items()))]
    verdicts: dict[str, Counter[str]] = {}
    for (decision, reason), n in progress.decisions.items():
        # "quiet hours (22:10 in Europe/Lisbon)" and the like count as one reason.
        verdicts.setdefault(decision, Counter())[reason.split(" (")[0]] += n
    if verdicts:
        parts = [
            f"{sum(reasons.values())} {decision} ({', '.join(f'{r} {n}' for r, n in reasons.most_common())})"
            for decision, reasons in sorted(verdicts.items())
        ]
        lines.append("delivery: " + "; ".join(parts))
    return lines


@campaigns.command("send")
@click.argument("name")
@click.option("--occurrence", default=None, help="the occurrence key (default: manual@<today in business.timezone>)")
@click.option("--follow", is_flag=True, help="show progress until every message is sent, held past expiry or skipped")
@click.option("--interval", default=2.0, show_default=True, help="seconds between progress checks with --follow")
@click.pass_context
def campaigns_send(ctx: click.Context, name: str, occurrence: str | None, follow: bool, interval: float) -> None:
    """Queue NAME for its audience now. Resumable, and safe to run twice: the same occurrence is planned once."""
    settings = live_settings(ctx)
    _campaign_or_exit(settings, name, enabled=True)

    async def job(core: Core) -> RunProgress:
        key = occurrence or await core.campaigns.occurrence_to_send(name)
        bar = PlanningBar(f"planning {name} {key}")
        try:
            result = await core.campaigns.send(name, key, progress=bar)
        finally:
            bar.close()
        if result.already_planned:
            click.echo(f"{name} {result.occurrence} was planned before ({count(result.planned, 'message')}): "
                       "nothing added")  # fmt: skip
        else:
            click.echo(f"queued {count(result.planned, 'message')} for {name} ({result.occurrence})")
        progress = await core.campaigns.progress(result.run_id)
        for line in describe(progress):
            click.echo(line)
        explained = _explain_quiet_hours(settings, progress, explained=False)
        while follow and not progress.finished:
            await asyncio.sleep(interval)
            latest = await core.campaigns.progress(result.run_id)
            if latest != progress:
                for line in describe(latest):
                    click.echo(line)
                explained = _explain_quiet_hours(settings, latest, explained=explained)
            progress = latest
        return progress

    try:
        progress = run_async(lambda: with_core(settings, job))
    except CampaignError as exc:
        fail(str(exc))
    if not progress.finished:
        click.echo(f"`engagebot run` sends them within the delivery policy; see `engagebot campaigns status {name}`")


def _explain_quiet_hours(settings: Settings, progress: RunProgress, *, explained: bool) -> bool:
    """While messages wait for quiet hours to end, say until when and why, once (the counts that follow say the
    rest)."""
    quiet = settings.outreach.quiet_hours
    held = any(decision == "held" and reason.startswith("quiet hours") for decision, reason in progress.decisions)
    if explained or not held or not progress.pending or quiet is None:
        return explained
    note = quiet_hours_note(settings.outreach, settings.business.zone, datetime.now(UTC))
    click.echo(note or f"quiet hours: some customers' own time is inside {quiet.start}-{quiet.end} "
               f"(outreach.quiet_hours): their messages are held until {quiet.end} their time; `engagebot run` sends "
               "them then")  # fmt: skip
    return True


@campaigns.command("status")
@click.argument("name")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1), help="how many occurrences")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="how many to skip")
@click.pass_context
def campaigns_status(ctx: click.Context, name: str, limit: int, offset: int) -> None:
    """The recent occurrences of NAME with their progress, the latest first (times in business.timezone)."""
    settings = live_settings(ctx)
    _campaign_or_exit(settings, name)

    async def job(core: Core) -> tuple[list[RunProgress], int]:
        return await core.campaigns.recent_runs(name, limit, offset)

    found, total = run_async(lambda: with_core(settings, job, flows=False))
    if not total:
        click.echo(f"{name} has not been sent yet")
        return
    for progress in found:
        click.echo(
            f"{progress.occurrence}  {progress.status}  {count(progress.planned, 'message')}  "
            f"due {local_time(settings, progress.due_at)}"
        )
        for line in describe(progress):
            click.echo(f"  {line}")
    click.echo(page_footer(offset, len(found), total, "occurrence"))
