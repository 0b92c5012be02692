"""The `engagebot` command: run the service, chat in the terminal, check flows, inspect tickets."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

import click
from dotenv import load_dotenv

from bot.config import Settings, StaffMember, load_settings
from bot.conversations.intent_checks import intent_warnings
from bot.conversations.loader import check_directory, reward_pool_problems
from bot.core import Core
from bot.messages import ChannelRef, Inbound, Reply
from bot.tickets.lifecycle import Outcome, TicketActions
from bot.tickets.queries import RoutingExplanation
from bot.tickets.views import SlaState, TicketDetails, TicketLine
from bot.yamlsource import SourceError
from handlers.cli_admin import admin, flows_export, flows_import
from handlers.cli_campaigns import campaigns
from handlers.cli_customers import customers_delete, customers_export, customers_import, customers_show
from handlers.cli_incidents import incidents
from handlers.cli_init import init
from handlers.cli_intents import intents
from handlers.cli_names import closest, known_or_fail, ticket_categories, unknown
from handlers.cli_playbook import playbook
from handlers.cli_reports import DATE, make_query, reports, show
from handlers.cli_rewards import rewards
from handlers.cli_support import (
    USER_ERROR,
    EngagebotGroup,
    count,
    customer_ref_or_fail,
    fail,
    local_time,
    page_footer,
    remember_debug,
    run_async,
    settings_or_exit,
    with_core,
)
from handlers.cli_tiers import customers_tiers, customers_top
from handlers.logsetup import configure_logging


@click.group(cls=EngagebotGroup)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml to use")
@click.option("-v", "--verbose", is_flag=True, help="log more")
@click.option("--debug", is_flag=True, is_eager=True, callback=remember_debug, help="tracebacks with errors")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool, debug: bool) -> None:
    """engagebot: keep your customers through chat."""
    load_dotenv(Path.cwd() / ".env", override=False)
    # Logs go to stderr; one-shot commands print results, so only `run` (or -v) logs its progress.
    configure_logging(verbose, quiet=ctx.invoked_subcommand != "run")
    ctx.obj = {"config": config}


# ---- run ----------------------------------------------------------------------------------------


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Start everything the configuration enables (web chat, Telegram, Slack, scheduler)."""
    from handlers.server import PortUnavailable, serve

    settings = settings_or_exit(ctx)
    # SIGTERM (systemd, `docker stop`) stops the server as Ctrl-C does, before uvicorn listens for it and after it
    # re-raises it at the end of its shutdown: without this, Python's default ends the process with no last line.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            code = runner.run(serve(settings))
    except PortUnavailable as exc:
        fail(str(exc), USER_ERROR)
    except KeyboardInterrupt:  # Ctrl-C is how a terminal user stops the server: it shut down in order
        code = 0
    if code == 0:
        click.echo("engagebot stopped")
    sys.exit(code)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (not on Windows): the server spends much of its CPU in the event loop and its
    sockets. None: asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


# ---- chat ---------------------------------------------------------------------------------------


@main.command()
@click.option("--user", default="local", show_default=True, help="who you are in the conversation")
@click.option("--name", default=None, help="your display name")
@click.pass_context
def chat(ctx: click.Context, user: str, name: str | None) -> None:
    """Talk to the bot in the terminal (one message per line; works piped). Ctrl-D or Ctrl-C quits."""
    settings = settings_or_exit(ctx)
    interactive = sys.stdin.isatty()
    logging.getLogger().setLevel(logging.WARNING)
    lines = LineReader(PROMPT if interactive else "")

    async def job(core: Core) -> None:
        if interactive:
            click.echo("Type a message and press Enter; Ctrl-D or Ctrl-C quits. Buttons are shown in [brackets]: "
                       "type the label.")  # fmt: skip
        while (line := await lines.next()) is not None:
            replies = await core.engine.handle(Inbound(channel="cli", address=user, text=line, display_name=name))
            for reply in replies:
                click.echo(format_reply(reply))
            await core.dispatcher.drain()

    try:
        run_async(lambda: with_core(settings, job))
    except KeyboardInterrupt:
        click.echo("")  # past the ^C, so the shell's prompt starts on a line of its own
    if interactive:
        click.echo("bye")


PROMPT = "you> "
BOT = "bot: "


class LineReader:
    """Lines from stdin, read in a daemon thread: Ctrl-C ends the chat at once instead of waiting for a thread
    blocked in readline (asyncio's own executor is joined at exit; this thread is not). On a terminal each read
    shows the prompt; piped input gets none."""

    def __init__(self, prompt: str):
        self.prompt = prompt

    async def next(self) -> str | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def read() -> None:
            try:
                line: str | None = input(self.prompt) if self.prompt else sys.stdin.readline() or None
            except EOFError:
                line = None
            if line is not None:
                line = line.rstrip("\n")
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(line))

        threading.Thread(target=read, name="chat-stdin", daemon=True).start()
        return await future


def format_reply(reply: Reply) -> str:
    """A reply as the terminal shows it: later lines indented under the first (a blank one left blank), buttons below
    in [brackets]."""
    first, *later = reply.text.split("\n")
    lines = [BOT + first, *(" " * len(BOT) + line if line.strip() else "" for line in later)]
    if reply.buttons:
        lines.append(" " * len(BOT) + "  ".join(f"[{b.label}]" for b in reply.buttons))
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
        directory = str(settings_or_exit(ctx).flows_dir)
    found, problems = check_directory(Path(directory))
    settings = _settings_or_defaults(ctx)
    if settings is None:
        # Without the configuration the pools are unknown: saying "no such pool" would be wrong.
        click.echo("warning: reward pools not checked (the configuration does not load)")
        settings = Settings()
    else:
        problems += reward_pool_problems(found.values(), settings)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        sys.exit(1)
    # Warnings (`path:line: warning: ...`) do not change the exit code: the flows are valid.
    for warning in intent_warnings(found.values(), settings.conversation, settings.intents):
        click.echo(str(warning))
    click.echo(f"{len(found)} flows OK: {', '.join(sorted(found))}")


def _settings_or_defaults(ctx: click.Context) -> Settings | None:
    """`flows check DIR` needs no configuration file (then the embedded defaults); None when config.yaml has
    problems."""
    try:
        return load_settings(ctx.obj.get("config"))
    except SourceError:
        return None


@flows.command("graph")
@click.argument("flow_id")
@click.pass_context
def flows_graph(ctx: click.Context, flow_id: str) -> None:
    """Print a Mermaid diagram of one flow."""
    from bot.conversations.graph import mermaid

    found, _problems = check_directory(settings_or_exit(ctx).flows_dir)
    known_or_fail("flow", flow_id, found)
    click.echo(mermaid(found[flow_id]))


# ---- tickets ------------------------------------------------------------------------------------


class TranscriptChannel:
    """The web chat and the terminal chat read the transcript, where every reply is already recorded:
    delivering to them is done once it is written, so the CLI's outbox run can finish those rows."""

    reads_transcript = True

    def __init__(self, name: str):
        self.name = name

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        return None


TRANSCRIPT_CHANNELS = ("web", "cli")


def _staff_or_exit(settings: Settings, key: str) -> StaffMember:
    """The person acting, from the staff directory in config.yaml; exit 1 with a hint otherwise."""
    from bot.tickets import directory

    found = directory.member(settings.staff, key)
    if found is not None:
        return found
    if not settings.staff:
        fail(f"{key!r} is not in the staff directory: nobody is (add people under `staff:` in config.yaml)")
    fail(unknown("staff key", key, [m.key for m in settings.staff]) + " (staff: in config.yaml)")


def _sla_text(settings: Settings, state: SlaState) -> str:
    """The SLA column: "due <when>" for the running clock (first response, then resolution), "breached", or "-"."""
    if state.breached:
        return "breached"
    return f"due {local_time(settings, state.due)}" if state.due is not None else "-"


def _echo_ticket_lines(settings: Settings, lines: list[TicketLine]) -> None:
    click.echo(
        f"{'ref':<8} {'status':<20} {'kind':<10} {'category':<12} {'severity':<8} {'assignee':<18} {'sla':<20} "
        f"{'opened':<17} summary"
    )
    for t in lines:
        opened = local_time(settings, t.opened_at)
        assignee = t.assignee or "-"
        click.echo(
            f"{t.ref:<8} {t.status:<20} {t.kind:<10} {t.category:<12} {t.severity:<8} {assignee[:18]:<18} "
            f"{_sla_text(settings, t.sla):<20} {opened:<17} {t.summary[:60]}"
        )


@main.group()
def tickets() -> None:
    """List tickets and work on them as a person in the staff directory (works without Slack)."""


@tickets.command("list")
@click.option("--status", default="open", show_default=True, help="open (unresolved), all, or a status name")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="how many to show")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="how many to skip")
@click.pass_context
def tickets_list(ctx: click.Context, status: str, limit: int, offset: int) -> None:
    """Tickets, the latest first, with their assignee and SLA state (times in business.timezone)."""
    from bot.tickets.models import TicketStatus
    from bot.tickets.queries import TicketPage

    known_or_fail("status", status, ["open", "all", *TicketStatus])
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> TicketPage:
        return await core.ticket_queries.page(status=None if status == "all" else status, limit=limit, offset=offset)

    page = run_async(lambda: with_core(settings, job, flows=False))
    if page.lines:
        _echo_ticket_lines(settings, page.lines)
    noun = "open ticket" if status == "open" else "ticket" if status == "all" else f"{status} ticket"
    click.echo(page_footer(offset, len(page.lines), page.total, noun))
    if page.hidden:
        what = "resolved or closed ticket" if status == "open" else "ticket with another status"
        verb = "is" if page.hidden == 1 else "are"
        click.echo(f"{count(page.hidden, what, what.replace('ticket', 'tickets'))} {verb} not shown: "
                   "--status all lists every ticket")  # fmt: skip


@tickets.command("show")
@click.argument("ref")
@click.pass_context
def tickets_show(ctx: click.Context, ref: str) -> None:
    """One ticket: who has it, its deadlines, resolution, CSAT and timeline."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> TicketDetails | None:
        return await core.ticket_queries.details(ref)

    found = run_async(lambda: with_core(settings, job, flows=False))
    if found is None:
        fail(f"no ticket {ref}")
    view = found.view
    customer = view.customer
    click.echo(f"{view.ref}  {view.status}  {view.kind}/{view.category}  severity {view.severity}")
    name = "" if customer.name == f"Customer #{customer.id}" else f" {customer.name}"  # no name given
    click.echo(f"customer #{customer.id}{name} (tier {customer.tier}; {', '.join(customer.channels) or 'no channel'})")
    person, backup = view.assignee, view.backup
    click.echo(
        "assignee: "
        + (f"{person.name} ({person.key})" if person else "nobody yet")
        + (f"; backup {backup.name} ({backup.key})" if backup else "")
    )
    for label, due, met in (
        ("first response due", view.first_response_due, found.first_response_met),
        ("resolution due", view.resolution_due, found.resolution_met),
    ):
        if due:
            verdict = "" if met is None else " (met)" if met else " (late)"
            click.echo(f"{label}: {due.text}{verdict}")
    click.echo(f"sla: {_sla_text(settings, found.sla)}")
    click.echo(f"summary: {view.summary}")
    if view.description:
        click.echo("description:\n  " + view.description.replace("\n", "\n  "))
    for a in view.attachments:
        click.echo(f"attachment: {a.kind} {a.ref}")
    if view.resolution:
        click.echo(f"resolution: {view.resolution}")
    if view.compensation:
        click.echo(f"compensation: {view.compensation}")
    if view.incident:
        click.echo(f"incident: {view.incident}")
    if view.csat_score is not None:
        click.echo(f"csat: {view.csat_score}/5")
    if view.reopened_count:
        click.echo(f"reopened: {count(view.reopened_count, 'time')}")
    click.echo("timeline:")
    for e in found.timeline:
        click.echo(f"  {local_time(settings, e.at)} {e.kind:<18} {e.actor:<10} {e.body[:100]}")


def _staff_action(
    ctx: click.Context, staff_key: str, act: Callable[[TicketActions], Awaitable[Outcome]], *, deliver: bool = False
) -> None:
    """Act on a ticket as STAFF_KEY; with `deliver`, run the outbox so the customer's messages go out now."""
    settings = settings_or_exit(ctx)
    _staff_or_exit(settings, staff_key)
    # With Slack or Telegram configured, `engagebot run` owns delivery: run here, without its staff desk and
    # channels, the outbox would finish staff notices unposted and spend Telegram sends' attempts.
    served = settings.secrets.slack_bot_token is not None or settings.secrets.telegram_bot_token is not None

    async def job(core: Core) -> Outcome:
        outcome = await act(core.tickets)
        if outcome.ok and deliver and not served:
            await core.dispatcher.drain()
        return outcome

    channels = [TranscriptChannel(name) for name in TRANSCRIPT_CHANNELS]
    outcome = run_async(lambda: with_core(settings, job, channels=channels, flows=deliver and not served))
    if not outcome.ok:
        fail(outcome.message)
    click.echo(outcome.message)
    if deliver and served:
        click.echo("queued: `engagebot run` delivers it (Slack or Telegram is configured)")


SEVERITIES = ("low", "normal", "high", "critical")
AS_STAFF = click.option("--as", "staff_key", required=True, metavar="STAFF_KEY", help="who you are (a staff key)")


@tickets.command("claim")
@click.argument("ref")
@AS_STAFF
@click.pass_context
def tickets_claim(ctx: click.Context, ref: str, staff_key: str) -> None:
    """Take REF on: it is yours until you resolve or reassign it."""
    _staff_action(ctx, staff_key, lambda actions: actions.claim(ref, staff_key))


@tickets.command("reply")
@click.argument("ref")
@click.argument("text")
@AS_STAFF
@click.pass_context
def tickets_reply(ctx: click.Context, ref: str, text: str, staff_key: str) -> None:
    """Send TEXT to the customer of REF, as a message from you by name."""
    _staff_action(ctx, staff_key, lambda actions: actions.reply(ref, staff_key, text), deliver=True)


@tickets.command("note")
@click.argument("ref")
@click.argument("text")
@AS_STAFF
@click.pass_context
def tickets_note(ctx: click.Context, ref: str, text: str, staff_key: str) -> None:
    """Add an internal note to REF (the customer never sees it)."""
    _staff_action(ctx, staff_key, lambda actions: actions.note(ref, staff_key, text))


@tickets.command("reassign")
@click.argument("ref")
@AS_STAFF
@click.option("--to", "to_key", required=True, metavar="STAFF_KEY", help="who takes it over")
@click.pass_context
def tickets_reassign(ctx: click.Context, ref: str, staff_key: str, to_key: str) -> None:
    """Hand REF over to another person in the staff directory."""
    _staff_or_exit(settings_or_exit(ctx), to_key)
    _staff_action(ctx, staff_key, lambda actions: actions.reassign(ref, staff_key, to_key))


@tickets.command("resolve")
@click.argument("ref")
@AS_STAFF
@click.option("--resolution", required=True, help="what was done (the customer reads it)")
@click.option("--compensation", default="", help="what the customer gets as an apology, if anything")
@click.option(
    "--reward", "reward", metavar="POOL", default=None, help="give a code of this reward pool as compensation"
)
@click.pass_context
def tickets_resolve(
    ctx: click.Context, ref: str, staff_key: str, resolution: str, compensation: str, reward: str | None
) -> None:
    """Resolve REF: the customer is told, asked whether it is solved, and asked for a CSAT score."""
    _staff_action(ctx, staff_key, lambda actions: actions.resolve(ref, staff_key, resolution, compensation, reward),
                  deliver=True)  # fmt: skip


@tickets.command("mine")
@AS_STAFF
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="how many to show")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="how many to skip")
@click.pass_context
def tickets_mine(ctx: click.Context, staff_key: str, limit: int, offset: int) -> None:
    """Your unresolved tickets, the most urgent first."""
    from bot.tickets.queries import TicketPage

    settings = settings_or_exit(ctx)
    person = _staff_or_exit(settings, staff_key)

    async def job(core: Core) -> TicketPage:
        return await core.ticket_queries.assigned_page(staff_key, limit=limit, offset=offset)

    page = run_async(lambda: with_core(settings, job, flows=False))
    if not page.total:
        click.echo(f"no open tickets for {person.name}")
        return
    _echo_ticket_lines(settings, page.lines)
    click.echo(page_footer(offset, len(page.lines), page.total, "open ticket"))


# ---- routing ------------------------------------------------------------------------------------


@main.group()
def routing() -> None:
    """Who gets a ticket, and why (the staff directory and routing rules in config.yaml)."""


@routing.command("explain")
@click.option("--customer", "customer", required=True, metavar="REF", help="a customer id (42) or ext:<external_id>")
@click.option("--category", required=True, help="the ticket category, e.g. delivery or billing")
@click.option("--severity", default="normal", show_default=True, help="low, normal, high, critical")
@click.option("--at", "at", default=None, help="a moment other than now, e.g. 2026-03-07T10:00 (business.timezone)")
@click.pass_context
def routing_explain(ctx: click.Context, customer: str, category: str, severity: str, at: str | None) -> None:
    """Who would get a ticket from CUSTOMER about CATEGORY now (or --at), and why."""
    settings = settings_or_exit(ctx)
    customer_ref = customer_ref_or_fail(customer)
    known_or_fail("severity", severity, SEVERITIES)
    categories = ticket_categories(settings, check_directory(settings.flows_dir)[0].values())
    if category not in categories:
        if closest(category, categories) is not None:
            fail(unknown("category", category, categories))
        click.echo(f"note: no flow, staff member or routing rule names the category {category!r}", err=True)
    moment: datetime | None = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(
                f"{at!r} is not a date and time like 2026-03-07T10:00", param_hint="--at"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=settings.business.zone)

    async def job(core: Core) -> RoutingExplanation | None:
        return await core.ticket_queries.explain_routing(customer_ref, category, severity, moment)

    found = run_async(lambda: with_core(settings, job, flows=False))
    if found is None:
        fail(f"no customer {customer}")
    decision = found.decision
    click.echo(
        f"customer #{found.customer_id}{' ' + found.customer_name if found.customer_name else ''}: tier {found.tier}, "
        f"language {found.language or '-'}, account manager {found.account_manager or '-'}"
    )
    when = local_time(settings, found.at)
    click.echo(f"ticket: category {category}, severity {severity}, at {when} {settings.business.timezone}")
    for reason in decision.reasons:
        click.echo(f"  {reason}")
    if decision.staff_key is None:
        click.echo("nobody: the ticket would wait unassigned (set routing.fallback in config.yaml)")
    else:
        person = next(m for m in settings.staff if m.key == decision.staff_key)
        click.echo(f"would go to {person.name} ({person.key})")


# ---- customers ----------------------------------------------------------------------------------


@main.group()
def customers() -> None:
    """Customers and their chat identities."""


@customers.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="how many to show")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="how many to skip")
@click.pass_context
def customers_list(ctx: click.Context, limit: int, offset: int) -> None:
    """Customers, the newest first, with their external id, tier, consent and chats."""
    from bot.customers.views import CustomerPage

    async def job(core: Core) -> CustomerPage:
        return await core.customers.page(limit, offset)

    page = run_async(lambda: with_core(settings_or_exit(ctx), job, flows=False))
    if page.rows:
        click.echo(f"{'id':>6} {'external id':<16} {'name':<24} {'tier':<10} {'subscribed':<10} channels")
    for c in page.rows:
        name, external = (c.display_name or "-")[:24], (c.external_id or "-")[:16]
        click.echo(f"{c.id:>6} {external:<16} {name:<24} {c.tier:<10} {'yes' if c.subscribed else 'no':<10} "
                   f"{', '.join(c.channels) or '-'}")  # fmt: skip
    click.echo(page_footer(offset, len(page.rows), page.total, "customer"))


@customers.command("link-code")
@click.argument("ref")
@click.option("--valid-days", default=7, show_default=True, help="how long the code can be used")
@click.pass_context
def customers_link_code(ctx: click.Context, ref: str, valid_days: int) -> None:
    """A one-time code that links a Telegram chat to the customer REF, an id (42) or ext:<external_id> (deep link
    t.me/<bot>?start=CODE)."""
    from datetime import timedelta

    customer = customer_ref_or_fail(ref)

    async def job(core: Core) -> str | None:
        return await core.customers.issue_link_code(customer, timedelta(days=valid_days))

    code = run_async(lambda: with_core(settings_or_exit(ctx), job, flows=False))
    if code is None:
        fail(f"no customer {ref}")
    click.echo(code)
    click.echo(f"deep link: https://t.me/<your_bot_username>?start={code}  (one use, {valid_days} days)", err=True)


# ---- surveys ------------------------------------------------------------------------------------


@main.group()
def surveys() -> None:
    """Survey results."""


@surveys.command("report")
@click.option("--since", type=DATE, help="first day (YYYY-MM-DD); default: all time")
@click.option("--until", type=DATE, help="last day, included; default: today")
@click.pass_context
def surveys_report(ctx: click.Context, since: datetime | None, until: datetime | None) -> None:
    """NPS and CSAT: the same as `engagebot reports nps` and `engagebot reports csat` (kept for old scripts)."""
    query = make_query(since, until)
    show(ctx, "nps", query)
    click.echo()
    show(ctx, "csat", query)


# ---- db -----------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply migrations (also done automatically on start)."""
    from bot.storage.database import Database, redact_url

    settings = settings_or_exit(ctx)

    async def job() -> str | None:
        database = Database(settings.database.url)
        try:
            await database.upgrade()
            return await database.current_revision()
        finally:
            await database.dispose()

    revision = run_async(job)
    click.echo(f"database {redact_url(settings.database.url)} is at revision {revision}")


main.add_command(campaigns)
main.add_command(playbook)
main.add_command(init)
main.add_command(intents)
main.add_command(reports)
main.add_command(admin)
main.add_command(incidents)
main.add_command(rewards)
flows.add_command(flows_import)
flows.add_command(flows_export)
customers.add_command(customers_top)
customers.add_command(customers_tiers)
for command in (customers_import, customers_show, customers_export, customers_delete):
    customers.add_command(command)

if __name__ == "__main__":
    main(prog_name="engagebot")
