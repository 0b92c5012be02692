"""What every `engagebot` subcommand needs: settings or a clean exit, asyncio, a prepared core."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

import click

from bot.config import Settings, load_settings
from bot.core import Core
from bot.ports import Channel
from bot.yamlsource import SourceError

T = TypeVar("T")


def settings_or_exit(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except SourceError as exc:
        click.echo("engagebot: the configuration is not valid:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


def run_async(coro_factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_factory())  # type: ignore[arg-type]


async def with_core(
    settings: Settings, job: Callable[[Core], Awaitable[T]], *, quiet: bool = True, channels: Sequence[Channel] = (),
    flows: bool = True,
) -> T:  # fmt: skip
    """Run `job` on a prepared core. `flows=False` for commands that never run a conversation (listing,
    claiming, routing): reading every flow file is most of such a command's start-up time."""
    if quiet and logging.getLogger().level > logging.DEBUG:
        logging.getLogger("bot").setLevel(logging.WARNING)  # one-shot commands print results, not progress
    core = Core(settings, channels={channel.name: channel for channel in channels})
    try:
        if not flows:
            await core.prepare_storage()
            return await job(core)
        problems = await core.prepare()
        if problems and not quiet:
            for p in problems:
                click.echo(f"warning: {p}", err=True)
        return await job(core)
    finally:
        await core.close()


def local_time(settings: Settings, moment: datetime | None) -> str:
    """A moment as the business reads it (its time zone), to the minute; "-" for none."""
    if moment is None:
        return "-"
    return moment.astimezone(settings.business.zone).strftime("%Y-%m-%d %H:%M")
