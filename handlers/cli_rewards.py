"""`engagebot rewards`: fill a pool with codes from a CSV file, see the pools and who got what."""

from __future__ import annotations

from pathlib import Path

import click

from bot.core import Core
from bot.rewards.actions import Imported, PoolSummary, RewardError, RewardLine
from handlers.cli_support import count, fail, local_time, run_async, settings_or_exit, with_core


@click.group()
def rewards() -> None:
    """Reward codes (config.yaml: rewards.pools): import, list, who got them."""


@rewards.command("import")
@click.argument("pool")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def rewards_import(ctx: click.Context, pool: str, file: Path) -> None:
    """Add the codes of FILE (CSV: a `code` column, or the first column) to POOL; codes it has already are skipped."""
    settings = settings_or_exit(ctx)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")

    async def job(core: Core) -> Imported:
        return await core.rewards.import_codes(pool, text)

    try:
        done = run_async(lambda: with_core(settings, job, flows=False))
    except RewardError as exc:
        fail(str(exc))
    for problem in done.problems:
        click.echo(f"{file}: {problem}", err=True)
    repeated = f", {done.repeated:,} repeated in the file" if done.repeated else ""
    click.echo(f"{pool}: {count(done.added, 'code')} added, {done.already_there:,} already there{repeated}, "
               f"{count(len(done.problems), 'row')} skipped")  # fmt: skip


@rewards.command("list")
@click.pass_context
def rewards_list(ctx: click.Context) -> None:
    """Every pool: codes in it, given, redeemed, and how many are left."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> list[PoolSummary]:
        return await core.rewards.pools()

    pools = run_async(lambda: with_core(settings, job, flows=False))
    if not pools:
        click.echo("no reward pools (add some under `rewards: pools:` in config.yaml)")
        return
    for p in pools:
        left = "made on demand" if p.generated else f"{p.free:,} left"
        warning = "  EMPTY" if p.free == 0 else ""
        click.echo(f"{p.name}  {p.title}  given {p.given:,}, redeemed {p.redeemed:,}, {left}{warning}")


@rewards.command("given")
@click.option("--pool", default=None, help="only this pool")
@click.option("--customer", "customer_id", type=int, default=None, help="only this customer (id)")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.pass_context
def rewards_given(ctx: click.Context, pool: str | None, customer_id: int | None, limit: int) -> None:
    """The latest rewards given: to whom, why, when, and whether they were redeemed."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> list[RewardLine]:
        return await core.rewards.given(pool, customer_id, limit)

    lines = run_async(lambda: with_core(settings, job, flows=False))
    if not lines:
        click.echo("no rewards given yet")
    for r in lines:
        redeemed = f"redeemed {local_time(settings, r.redeemed_at)}" if r.redeemed_at else "not redeemed"
        click.echo(f"{local_time(settings, r.given_at)}  {r.pool}  {r.code}  customer #{r.customer_id}  "
                   f"{r.reason or '-'} (by {r.given_by or '-'})  {redeemed}")  # fmt: skip
