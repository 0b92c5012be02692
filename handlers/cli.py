"""The `engagebot` command: run the service, chat in the terminal, check flows, inspect tickets."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from dotenv import load_dotenv

from bot.config import Settings, load_settings
from bot.conversations.loader import check_directory
from bot.core import Core
from bot.messages import Inbound, Reply
from bot.yamlsource import SourceError
from handlers.logsetup import configure_logging

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except SourceError as exc:
        click.echo("engagebot: the configuration is not valid:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_factory())  # type: ignore[arg-type]


async def _with_core(settings: Settings, job: Callable[[Core], Awaitable[T]], *, quiet: bool = True) -> T:
    if quiet and logging.getLogger().level > logging.DEBUG:
        logging.getLogger("bot").setLevel(logging.WARNING)  # one-shot commands print results, not progress
    core = Core(settings)
    try:
        problems = await core.prepare()
        if problems and not quiet:
            for p in problems:
                click.echo(f"warning: {p}", err=True)
        return await job(core)
    finally:
        await core.close()


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml to use")
@click.option("-v", "--verbose", is_flag=True, help="log more")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """engagebot: keep your customers through chat."""
    load_dotenv(Path.cwd() / ".env", override=False)
    configure_logging(verbose)
    ctx.obj = {"config": config}


# ---- run ----------------------------------------------------------------------------------------


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Start everything the configuration enables (web chat, Telegram, Slack, scheduler)."""
    from handlers.server import serve

    settings = _settings(ctx)
    sys.exit(asyncio.run(serve(settings)))


# ---- chat ---------------------------------------------------------------------------------------


@main.command()
@click.option("--user", default="local", show_default=True, help="who you are in the conversation")
@click.option("--name", default=None, help="your display name")
@click.pass_context
def chat(ctx: click.Context, user: str, name: str | None) -> None:
    """Talk to the bot in the terminal (one message per line; works piped)."""
    settings = _settings(ctx)
    interactive = sys.stdin.isatty()
    logging.getLogger().setLevel(logging.WARNING)

    async def job(core: Core) -> None:
        if interactive:
            click.echo(
                "Type a message and press Enter; Ctrl-D to quit. Buttons are shown in [brackets]: type the label."
            )
        counter = 0
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            counter += 1
            text = line.rstrip("\n")
            replies = await core.engine.handle(Inbound(channel="cli", address=user, text=text, display_name=name))
            for reply in replies:
                click.echo(format_reply(reply))
            await core.dispatcher.drain()

    _run(lambda: _with_core(settings, job))


def format_reply(reply: Reply) -> str:
    lines = [f"bot: {reply.text}"]
    if reply.buttons:
        lines.append("     " + "  ".join(f"[{b.label}]" for b in reply.buttons))
    return "\n".join(lines)


# ---- flows --------------------------------------------------------------------------------------


@main.group()
def flows() -> None:
    """Check and inspect the conversation flows."""


@flows.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.pass_context
def flows_check(ctx: click.Context, directory: str | None) -> None:
    """Exit 0 when every flow in DIRECTORY is valid, 1 with `path:line: message` lines otherwise."""
    if directory is None:
        directory = str(_settings(ctx).flows_dir)
    found, problems = check_directory(Path(directory))
    for problem in problems:
        click.echo(str(problem))
    if problems:
        sys.exit(1)
    click.echo(f"{len(found)} flows OK: {', '.join(sorted(found))}")


@flows.command("graph")
@click.argument("flow_id")
@click.pass_context
def flows_graph(ctx: click.Context, flow_id: str) -> None:
    """Print a Mermaid diagram of one flow."""
    from bot.conversations.graph import mermaid

    found, _problems = check_directory(_settings(ctx).flows_dir)
    if flow_id not in found:
        click.echo(f"unknown flow {flow_id!r}; known: {', '.join(sorted(found))}", err=True)
        sys.exit(1)
    click.echo(mermaid(found[flow_id]))


# ---- intents ------------------------------------------------------------------------------------


@main.group()
def intents() -> None:
    """Inspect intent matching."""


@intents.command("explain")
@click.argument("text")
@click.option("--limit", default=5, show_default=True)
@click.pass_context
def intents_explain(ctx: click.Context, text: str, limit: int) -> None:
    """Show the best intent candidates for TEXT and their scores."""
    from bot.conversations.intents import GlobalWords
    from bot.conversations.registry import FlowRegistry

    settings = _settings(ctx)
    registry = FlowRegistry(settings.flows_dir)
    for problem in registry.load():
        click.echo(f"warning: {problem}", err=True)
    word = GlobalWords(settings.conversation.global_words.model_dump()).match(text)
    if word:
        click.echo(f'global word: "{word}" (works anywhere, checked before intents)')
    threshold = settings.intents.threshold
    interrupt = settings.intents.interrupt_threshold
    interrupting = {lf.id for lf in registry.all() if lf.flow.interrupts}
    click.echo(f"{'score':>6}  {'flow':<16} example phrase")
    for match in registry.indexes.intents.explain(text, limit):
        verdict = ""
        if match.name in interrupting and match.score >= interrupt:
            verdict = "  <- would interrupt a flow"
        elif match.score >= threshold:
            verdict = "  <- match"
        click.echo(f"{match.score:6.1f}  {match.name:<16} {match.phrase!r}{verdict}")
    click.echo(f"threshold {threshold:g}, interrupt threshold {interrupt:g} (config.yaml: intents)")


# ---- tickets ------------------------------------------------------------------------------------


@main.group()
def tickets() -> None:
    """List and inspect tickets (works without Slack)."""


@tickets.command("list")
@click.option("--status", default="open", show_default=True, help="open, all, or a status name")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def tickets_list(ctx: click.Context, status: str, limit: int) -> None:
    from bot.tickets import service

    async def job(core: Core) -> list[Any]:
        async with core.db.transaction() as session:
            return await service.list_tickets(session, status=None if status == "all" else status, limit=limit)

    rows = _run(lambda: _with_core(_settings(ctx), job))
    if not rows:
        click.echo("no tickets")
        return
    click.echo(f"{'ref':<8} {'status':<20} {'kind':<10} {'category':<12} {'severity':<8} {'opened':<17} summary")
    for t in rows:
        opened = t.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{t.ref:<8} {t.status:<20} {t.kind:<10} {t.category:<12} {t.severity:<8} {opened:<17} {t.summary[:60]}"
        )


@tickets.command("show")
@click.argument("ref")
@click.pass_context
def tickets_show(ctx: click.Context, ref: str) -> None:
    from bot.tickets import service

    async def job(core: Core) -> tuple[Any, list[Any]] | None:
        async with core.db.transaction() as session:
            ticket = await service.get_by_ref(session, ref)
            if ticket is None:
                return None
            return ticket, await service.timeline(session, ticket.id)

    found = _run(lambda: _with_core(_settings(ctx), job))
    if found is None:
        click.echo(f"no ticket {ref}", err=True)
        sys.exit(1)
    ticket, events = found
    click.echo(f"{ticket.ref}  {ticket.status}  {ticket.kind}/{ticket.category}  severity {ticket.severity}")
    click.echo(f"customer #{ticket.customer_id}; first response due {ticket.first_response_due:%Y-%m-%d %H:%M} UTC")
    click.echo(f"summary: {ticket.summary}")
    if ticket.description:
        click.echo("description:\n  " + ticket.description.replace("\n", "\n  "))
    for a in ticket.attachments or []:
        click.echo(f"attachment: {a.get('kind')} {a.get('ref')}")
    click.echo("timeline:")
    for e in events:
        click.echo(f"  {e.created_at:%Y-%m-%d %H:%M} {e.kind:<18} {e.actor:<10} {e.body[:100]}")


# ---- customers ----------------------------------------------------------------------------------


@main.group()
def customers() -> None:
    """Customers and their chat identities."""


@customers.command("list")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def customers_list(ctx: click.Context, limit: int) -> None:
    from sqlalchemy import select

    from bot.customers.models import ChannelIdentity, Customer

    async def job(core: Core) -> list[Any]:
        async with core.db.transaction() as session:
            rows = (await session.execute(select(Customer).order_by(Customer.id.desc()).limit(limit))).scalars()
            out = []
            for c in rows:
                ids = (
                    await session.execute(select(ChannelIdentity).where(ChannelIdentity.customer_id == c.id))
                ).scalars()
                out.append((c, [f"{i.channel}:{i.address}" for i in ids]))
            return out

    rows = _run(lambda: _with_core(_settings(ctx), job))
    click.echo(f"{'id':>6} {'name':<24} {'tier':<10} {'subscribed':<10} channels")
    for c, identities in rows:
        name = (c.display_name or "")[:24]
        click.echo(f"{c.id:>6} {name:<24} {c.tier:<10} {'yes' if c.subscribed else 'no':<10} {', '.join(identities)}")


@customers.command("link-code")
@click.argument("customer_id", type=int)
@click.option("--valid-days", default=7, show_default=True, help="how long the code can be used")
@click.pass_context
def customers_link_code(ctx: click.Context, customer_id: int, valid_days: int) -> None:
    """A one-time code that links a Telegram chat to CUSTOMER_ID (deep link t.me/<bot>?start=CODE)."""
    from datetime import timedelta

    from bot.customers import links
    from bot.customers.models import Customer

    async def job(core: Core) -> str | None:
        async with core.db.transaction() as session:
            if await session.get(Customer, customer_id) is None:
                return None
            return await links.issue(session, customer_id, core.clock.now(), timedelta(days=valid_days))

    code = _run(lambda: _with_core(_settings(ctx), job))
    if code is None:
        click.echo(f"no customer {customer_id}", err=True)
        sys.exit(1)
    click.echo(code)
    click.echo(f"deep link: https://t.me/<your_bot_username>?start={code}  (one use, {valid_days} days)", err=True)


# ---- surveys ------------------------------------------------------------------------------------


@main.group()
def surveys() -> None:
    """Survey results."""


@surveys.command("report")
@click.pass_context
def surveys_report(ctx: click.Context) -> None:
    """NPS, CSAT and response counts per survey."""
    from bot.surveys import service

    async def job(core: Core) -> list[Any]:
        async with core.db.transaction() as session:
            return await service.summaries(session)

    rows = _run(lambda: _with_core(_settings(ctx), job))
    if not rows:
        click.echo("no survey answers yet")
    for r in rows:
        headline = "" if r.score is None else (f"NPS {r.score:+g}" if r.kind == "nps" else f"CSAT {r.score:g}%")
        click.echo(f"{r.survey:<16} {r.kind:<5} {r.responses:>6} answers  {headline:<12} comments: {r.comments}")


# ---- db -----------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply migrations (also done automatically on start)."""
    from bot.storage.database import Database, redact_url

    settings = _settings(ctx)

    async def job() -> str | None:
        database = Database(settings.database.url)
        try:
            await database.upgrade()
            return await database.current_revision()
        finally:
            await database.dispose()

    revision = _run(job)
    click.echo(f"database {redact_url(settings.database.url)} is at revision {revision}")


if __name__ == "__main__":
    main()
