"""`engagebot customers top` and `engagebot customers tiers`: the best customers, and who is in which tier."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy import func, select

from bot.config import Settings, TierRule
from bot.core import Core
from bot.customers import tiers
from bot.customers.models import Customer
from handlers.cli_support import run_async, settings_or_exit, with_core


@click.command("top")
@click.argument("count", default=10, type=click.IntRange(min=1))
@click.pass_context
def customers_top(ctx: click.Context, count: int) -> None:
    """The COUNT customers with the highest lifetime value (default 10)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> tuple[int, list[tuple[Customer, float]], datetime]:
        async with core.db.transaction() as session:
            total, best = await tiers.best(session, count, "lifetime_value")
            return total, best, core.clock.now()

    total, best, now = run_async(lambda: with_core(settings, job, flows=False))
    if not best:
        click.echo("no customers yet" if not total else
                   f"none of the {total} customers has a lifetime_value yet (import it, e.g. in a CSV column "
                   "lifetime_value)")  # fmt: skip
        return
    zone = ZoneInfo(settings.business.timezone)
    click.echo(f"{'id':>6} {'external id':<16} {'name':<24} {'tier':<10} {'lifetime value':>14} "
               f"{'tenure':>8} last active")  # fmt: skip
    for c, value in best:
        tenure = tiers.tenure_days(c.attributes or {}, c.created_at, now, zone)
        last = c.last_active_at or c.last_seen_at
        click.echo(
            f"{c.id:>6} {(c.external_id or '-')[:16]:<16} {(c.display_name or '-')[:24]:<24} {c.tier:<10} "
            f"{value:>14,.2f} {f'{tenure} d':>8} {last.astimezone(zone).strftime('%Y-%m-%d') if last else '-'}"
        )


@click.command("tiers")
@click.option("--recompute", is_flag=True, help="apply the tier rules now and show what changed")
@click.pass_context
def customers_tiers(ctx: click.Context, recompute: bool) -> None:
    """How many customers each tier has, and the rule that gives it (tiers in config.yaml)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> tuple[dict[str, int], tiers.Reassignment | None]:
        async with core.db.transaction() as session:
            before = await _distribution(session)
            if not recompute:
                return before, None
            return before, await tiers.reassign(session, settings.tiers, settings.business.zone, core.clock.now())

    before, done = run_async(lambda: with_core(settings, job, flows=False))
    after = done.counts if done is not None else before
    if done is not None:
        click.echo(f"recomputed: {done.changed} of {sum(after.values())} customers changed tier")
        for (old, new), n in sorted(done.moves.items(), key=lambda item: -item[1]):
            click.echo(f"  {old} -> {new}: {n}")
        for index, n in sorted(done.failures.items()):
            rule = settings.tiers.rules[index]
            click.echo(f"warning: the condition of rule {index + 1} ({rule.tier}) failed for {n} customers, who "
                       f"did not match it: {rule.when}", err=True)  # fmt: skip
    _echo_distribution(settings, before, after, changed=done is not None)


async def _distribution(session: Any) -> dict[str, int]:
    rows = await session.execute(select(Customer.tier, func.count()).group_by(Customer.tier))
    return {tier: n for tier, n in rows}


def _echo_distribution(settings: Settings, before: dict[str, int], after: dict[str, int], *, changed: bool) -> None:
    total = sum(after.values())
    if not total:
        click.echo("no customers yet")
        return
    configured = [settings.tiers.default, *(r.tier for r in settings.tiers.rules)]
    # Configured tiers in rule order, the default last; then tiers only the database still has.
    order = [*configured[1:], configured[0], *sorted(set(after) - set(configured))]
    rules = {r.tier: _describe(r) for r in settings.tiers.rules}
    change = f" {'change':>8}" if changed else " " * 9
    click.echo(f"{'tier':<12} {'customers':>9} {'share':>6}{change} rule")
    for tier in dict.fromkeys(order):
        n = after.get(tier, 0)
        if tier not in configured and not n:
            continue
        rule = rules.get(tier) or ("default (no rule matched)" if tier == settings.tiers.default
                                   else "no rule gives this tier: the next recompute moves them")  # fmt: skip
        delta = f" {n - before.get(tier, 0):>+8}" if changed else " " * 9
        click.echo(f"{tier:<12} {n:>9} {n / total:>6.0%}{delta} {rule}")


def _describe(rule: TierRule) -> str:
    parts = [f"top {rule.top_percent:g}% by {rule.by}"] if rule.top_percent is not None else []
    parts += [f"when {rule.when}"] if rule.when is not None else []
    return " and ".join(parts)
