"""`engagebot customers top` and `engagebot customers tiers`: the best customers, and who is in which tier."""

from __future__ import annotations

import click

from bot.config import TierRule, TierSettings
from bot.core import Core
from bot.customers.views import TierReport, TopCustomers
from handlers.cli_support import count as count_of
from handlers.cli_support import run_async, settings_or_exit, with_core


@click.command("top")
@click.argument("count", default=10, type=click.IntRange(min=1))
@click.pass_context
def customers_top(ctx: click.Context, count: int) -> None:
    """The COUNT customers with the highest lifetime value (default 10)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> TopCustomers:
        return await core.customers.top(count)

    found = run_async(lambda: with_core(settings, job, flows=False))
    if not found.best:
        click.echo("no customers yet" if not found.total else
                   f"none of the {found.total} customers has a lifetime_value yet (import it, e.g. in a CSV column "
                   "lifetime_value)")  # fmt: skip
        return
    zone = settings.business.zone
    click.echo(f"{'id':>6} {'external id':<16} {'name':<24} {'tier':<10} {'lifetime value':>14} "
               f"{'tenure':>8} last active")  # fmt: skip
    for c in found.best:
        last = c.last_active_at
        click.echo(
            f"{c.id:>6} {(c.external_id or '-')[:16]:<16} {(c.display_name or '-')[:24]:<24} {c.tier:<10} "
            f"{c.lifetime_value:>14,.2f} {f'{c.tenure_days} d':>8} "
            f"{last.astimezone(zone).strftime('%Y-%m-%d') if last else '-'}"
        )
    shown = len(found.best)
    more = f"; `engagebot customers top {found.valued}` lists them all" if shown < found.valued else ""
    click.echo(f"top {shown:,} of the {count_of(found.valued, 'customer')} with a lifetime value "
               f"({found.total:,} in all){more}")  # fmt: skip


@click.command("tiers")
@click.option("--recompute", is_flag=True, help="apply the tier rules now and show what changed")
@click.pass_context
def customers_tiers(ctx: click.Context, recompute: bool) -> None:
    """How many customers each tier has, and the rule that gives it (tiers in config.yaml)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> TierReport:
        return await core.customers.tiers(recompute=recompute)

    report = run_async(lambda: with_core(settings, job, flows=False))
    done = report.reassignment
    if done is not None:
        click.echo(f"recomputed: {done.changed} of {sum(report.after.values())} customers changed tier")
        for (old, new), n in sorted(done.moves.items(), key=lambda item: -item[1]):
            click.echo(f"  {old} -> {new}: {n}")
        for index, n in sorted(done.failures.items()):
            rule = settings.tiers.rules[index]
            click.echo(f"warning: the condition of rule {index + 1} ({rule.tier}) failed for {n} customers, who "
                       f"did not match it: {rule.when}", err=True)  # fmt: skip
    _echo_distribution(settings.tiers, report.before, report.after, changed=done is not None)


def _echo_distribution(tiers: TierSettings, before: dict[str, int], after: dict[str, int], *, changed: bool) -> None:
    total = sum(after.values())
    if not total:
        click.echo("no customers yet")
        return
    configured = [tiers.default, *(r.tier for r in tiers.rules)]
    # Configured tiers in rule order, the default last; then tiers only the database still has.
    order = [*configured[1:], configured[0], *sorted(set(after) - set(configured))]
    rules = {r.tier: _describe(r) for r in tiers.rules}
    change = f" {'change':>8}" if changed else " " * 9
    click.echo(f"{'tier':<12} {'customers':>9} {'share':>6}{change} rule")
    for tier in dict.fromkeys(order):
        n = after.get(tier, 0)
        if tier not in configured and not n:
            continue
        rule = rules.get(tier) or ("default (no rule matched)" if tier == tiers.default
                                   else "no rule gives this tier: the next recompute moves them")  # fmt: skip
        delta = f" {n - before.get(tier, 0):>+8}" if changed else " " * 9
        click.echo(f"{tier:<12} {n:>9} {n / total:>6.0%}{delta} {rule}")


def _describe(rule: TierRule) -> str:
    parts = [f"top {rule.top_percent:g}% by {rule.by}"] if rule.top_percent is not None else []
    parts += [f"when {rule.when}"] if rule.when is not None else []
    return " and ".join(parts)
