"""What every `engagebot` subcommand needs: settings or a clean exit, asyncio, a prepared core, and the one way
errors are told: `engagebot: what is wrong` on stderr, exit 1 when something named was not found (or refused), exit 2
when the command cannot work until the user fixes something (usage, configuration, database, port)."""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click
from click.exceptions import NoArgsIsHelpError

from bot.config import Settings, load_settings
from bot.core import Core
from bot.customers import privacy
from bot.customers.privacy import CustomerRef
from bot.ports import Channel
from bot.storage.database import DatabaseUnusable, is_unavailable
from bot.storage.versioned import ConfigSync
from bot.yamlsource import SourceError

T = TypeVar("T")
NOT_FOUND = 1  # something named (a ticket, a customer, a flow) does not exist, or an action was refused
USER_ERROR = 2  # the command cannot work until the user fixes something: usage, configuration, database, port


def fail(message: str, code: int = NOT_FOUND) -> NoReturn:
    """The one way a command reports an error: `engagebot: message` on stderr, then exit `code`."""
    click.echo(f"engagebot: {message}", err=True)
    sys.exit(code)


class UserError(Exception):
    """Raised anywhere under a command for a failure the user must fix (a busy port): one line, exit 2."""


class EngagebotGroup(click.Group):
    """The top-level command: every failure a user can cause is one `engagebot: ...` line (a traceback only with
    --debug), usage errors included, and Ctrl-C ends a command quietly."""

    debug = False

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except NoArgsIsHelpError as exc:  # `engagebot` or `engagebot tickets` alone: the help is the answer
            click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            fail(exc.format_message() + hint, USER_ERROR)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except (KeyboardInterrupt, click.Abort, EOFError):
            click.echo("", err=True)  # past the ^C the terminal echoed
            sys.exit(130)
        except (DatabaseUnusable, UserError) as exc:
            self._explain(exc)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            sys.exit(0)  # the reader stopped early (`| head`): not an error
        except Exception as exc:
            if isinstance(exc, OSError) or not is_unavailable(exc):  # a driver's error, not a file's
                raise
            # The database failed after the start (a lost connection, a read-only file): still one line.
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self._explain(DatabaseUnusable(f"the database failed: {first}"), cause=exc)
        sys.exit(result if isinstance(result, int) else 0)

    def _explain(self, exc: Exception, cause: Exception | None = None) -> NoReturn:
        if self.debug:
            traceback.print_exception(cause or exc)
        fail(str(exc), USER_ERROR)


def customer_ref_or_fail(ref: str) -> CustomerRef:
    """A customer named on the command line: an id (42) or ext:<external_id>; exit 1 for anything else."""
    try:
        return privacy.parse_ref(ref)
    except ValueError as exc:
        fail(str(exc))


def remember_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """--debug: tracebacks for the errors that are otherwise one line."""
    if value and isinstance(ctx.command, EngagebotGroup):
        ctx.command.debug = True
    return value


def settings_or_exit(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except SourceError as exc:
        click.echo("engagebot: the configuration is not valid:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(USER_ERROR)


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


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 answer', '2 answers', '1,204 customers'."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def page_footer(offset: int, shown: int, total: int, noun: str) -> str:
    """'showing 1–50 of 20,019 customers; --offset 50 for more' (a list never stops silently); `noun` singular."""
    if not total:
        return f"no {noun}s"
    if not shown:
        return f"none from --offset {offset:,}: there {'is' if total == 1 else 'are'} {count(total, noun)}"
    more = f"; --offset {offset + shown} for more" if offset + shown < total else ""
    return f"showing {offset + 1:,}–{offset + shown:,} of {count(total, noun)}{more}"


def local_time(settings: Settings, moment: datetime | None) -> str:
    """A moment as the business reads it (its time zone), to the minute; "-" for none."""
    if moment is None:
        return "-"
    return moment.astimezone(settings.business.zone).strftime("%Y-%m-%d %H:%M")


def report_config_sync(synced: ConfigSync, nothing: str) -> None:
    """What an import of config.yaml did (campaigns, playbook sections), name by name; exit 1 when an edit was
    refused, as it was also changed in the console."""
    for saved in synced.saved:
        click.echo(f"{saved.name}: version {saved.number}, {saved.note}")
    for head in synced.behind:
        click.echo(f"{head.name}: config.yaml is behind version {head.number} by {head.author} (console)")
    for conflict in synced.conflicts:
        click.echo(f"refused: {conflict}", err=True)
    if synced.conflicts:
        sys.exit(1)
    if not synced.saved:
        click.echo(nothing)
