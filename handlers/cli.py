"""The `engagebot` command: run the service, chat in the terminal, check flows, inspect tickets."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

import click
from dotenv import load_dotenv

from bot.config import Settings, StaffMember
from bot.conversations.loader import check_directory
from bot.core import Core
from bot.messages import ChannelRef, Inbound, Reply
from bot.tickets.lifecycle import Outcome, TicketActions
from bot.tickets.queries import RoutingExplanation
from bot.tickets.views import SlaState, TicketDetails, TicketLine
from handlers.cli_admin import admin, flows_export, flows_import
from handlers.cli_campaigns import campaigns
from handlers.cli_customers import customers_delete, customers_export, customers_import, customers_show
from handlers.cli_support import local_time, run_async, settings_or_exit, with_core
from handlers.cli_tiers import customers_tiers, customers_top
from handlers.logsetup import configure_logging


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

    settings = settings_or_exit(ctx)
    sys.exit(asyncio.run(serve(settings)))


# ---- chat ---------------------------------------------------------------------------------------


@main.command()
@click.option("--user", default="local", show_default=True, help="who you are in the conversation")
@click.option("--name", default=None, help="your display name")
@click.pass_context
def chat(ctx: click.Context, user: str, name: str | None) -> None:
    """Talk to the bot in the terminal (one message per line; works piped)."""
    settings = settings_or_exit(ctx)
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

    run_async(lambda: with_core(settings, job))


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
        directory = str(settings_or_exit(ctx).flows_dir)
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

    found, _problems = check_directory(settings_or_exit(ctx).flows_dir)
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

    settings = settings_or_exit(ctx)
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


class TranscriptChannel:
    """The web chat and the terminal chat read the transcript, where every reply is already recorded:
    delivering to them is done once it is written, so the CLI's outbox run can finish those rows."""

    def __init__(self, name: str):
        self.name = name

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        return None


TRANSCRIPT_CHANNELS = ("web", "cli")


def _staff_or_exit(settings: Settings, key: str) -> StaffMember:
    """The person acting, from the staff directory in config.yaml; exit 1 with a hint otherwise."""
    from bot.tickets import directory
    from bot.yamlsource import did_you_mean

    found = directory.member(settings.staff, key)
    if found is not None:
        return found
    known = [m.key for m in settings.staff]
    if not known:
        click.echo(f"{key!r} is not in the staff directory: nobody is (add people under `staff:` in config.yaml)",
                   err=True)  # fmt: skip
    else:
        click.echo(f"{key!r} is not in the staff directory{did_you_mean(key, known)}; known: {', '.join(known)}",
                   err=True)  # fmt: skip
    sys.exit(1)


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
@click.option("--status", default="open", show_default=True, help="open, all, or a status name")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def tickets_list(ctx: click.Context, status: str, limit: int) -> None:
    """Tickets with their assignee and SLA state (times in business.timezone)."""
    settings = settings_or_exit(ctx)

    async def job(core: Core) -> list[TicketLine]:
        return await core.ticket_queries.lines(status=None if status == "all" else status, limit=limit)

    lines = run_async(lambda: with_core(settings, job, flows=False))
    if not lines:
        click.echo("no tickets")
        return
    _echo_ticket_lines(settings, lines)


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
        click.echo(f"no ticket {ref}", err=True)
        sys.exit(1)
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
    if view.csat_score is not None:
        click.echo(f"csat: {view.csat_score}/5")
    if view.reopened_count:
        click.echo(f"reopened: {view.reopened_count} time{'s' if view.reopened_count != 1 else ''}")
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
        click.echo(f"engagebot: {outcome.message}", err=True)
        sys.exit(1)
    click.echo(outcome.message)
    if deliver and served:
        click.echo("queued: `engagebot run` delivers it (Slack or Telegram is configured)")


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
@click.pass_context
def tickets_resolve(ctx: click.Context, ref: str, staff_key: str, resolution: str, compensation: str) -> None:
    """Resolve REF: the customer is told, asked whether it is solved, and asked for a CSAT score."""
    _staff_action(ctx, staff_key, lambda actions: actions.resolve(ref, staff_key, resolution, compensation),
                  deliver=True)  # fmt: skip


@tickets.command("mine")
@AS_STAFF
@click.pass_context
def tickets_mine(ctx: click.Context, staff_key: str) -> None:
    """Your unresolved tickets, the most urgent first."""
    settings = settings_or_exit(ctx)
    person = _staff_or_exit(settings, staff_key)

    async def job(core: Core) -> list[TicketLine]:
        return await core.ticket_queries.assigned_lines(staff_key)

    lines = run_async(lambda: with_core(settings, job, flows=False))
    if not lines:
        click.echo(f"no open tickets for {person.name}")
        return
    _echo_ticket_lines(settings, lines)


# ---- routing ------------------------------------------------------------------------------------


@main.group()
def routing() -> None:
    """Who gets a ticket, and why (the staff directory and routing rules in config.yaml)."""


@routing.command("explain")
@click.option("--customer", "customer_id", type=int, required=True, help="the customer's id (customers list)")
@click.option("--category", required=True, help="the ticket category, e.g. delivery or billing")
@click.option("--severity", default="normal", show_default=True, help="low, normal, high, critical")
@click.option("--at", "at", default=None, help="a moment other than now, e.g. 2026-03-07T10:00 (business.timezone)")
@click.pass_context
def routing_explain(ctx: click.Context, customer_id: int, category: str, severity: str, at: str | None) -> None:
    """Who would get a ticket from CUSTOMER about CATEGORY now (or --at), and why."""
    settings = settings_or_exit(ctx)
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
        return await core.ticket_queries.explain_routing(customer_id, category, severity, moment)

    found = run_async(lambda: with_core(settings, job, flows=False))
    if found is None:
        click.echo(f"no customer {customer_id}", err=True)
        sys.exit(1)
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
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def customers_list(ctx: click.Context, limit: int) -> None:
    from bot.customers.views import CustomerListing

    async def job(core: Core) -> list[CustomerListing]:
        return await core.customers.recent(limit)

    rows = run_async(lambda: with_core(settings_or_exit(ctx), job))
    click.echo(f"{'id':>6} {'name':<24} {'tier':<10} {'subscribed':<10} channels")
    for c in rows:
        name = (c.display_name or "")[:24]
        click.echo(f"{c.id:>6} {name:<24} {c.tier:<10} {'yes' if c.subscribed else 'no':<10} {', '.join(c.channels)}")


@customers.command("link-code")
@click.argument("customer_id", type=int)
@click.option("--valid-days", default=7, show_default=True, help="how long the code can be used")
@click.pass_context
def customers_link_code(ctx: click.Context, customer_id: int, valid_days: int) -> None:
    """A one-time code that links a Telegram chat to CUSTOMER_ID (deep link t.me/<bot>?start=CODE)."""
    from datetime import timedelta

    async def job(core: Core) -> str | None:
        return await core.customers.issue_link_code(customer_id, timedelta(days=valid_days))

    code = run_async(lambda: with_core(settings_or_exit(ctx), job))
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
    from bot.surveys.responses import SurveySummary

    async def job(core: Core) -> list[SurveySummary]:
        return await core.surveys.summaries()

    rows = run_async(lambda: with_core(settings_or_exit(ctx), job))
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
main.add_command(admin)
flows.add_command(flows_import)
flows.add_command(flows_export)
customers.add_command(customers_top)
customers.add_command(customers_tiers)
for command in (customers_import, customers_show, customers_export, customers_delete):
    customers.add_command(command)

if __name__ == "__main__":
    main()
