"""`engagebot intents`: what a text would start (explain), how well a labelled set is routed (test), and what
customers wrote that matched nothing (unmatched). All three read the same verdict as the bot
(bot/conversations/understanding.py)."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import click

from bot.config import Settings
from bot.conversations import unmatched
from bot.conversations.registry import FlowRegistry
from bot.conversations.understanding import Understanding, Verdict, build_understanding
from bot.core import Core
from handlers.cli_support import local_time, run_async, settings_or_exit, with_core

NONE = "none"


def _understanding(ctx: click.Context) -> tuple[Settings, FlowRegistry, Understanding]:
    settings = settings_or_exit(ctx)
    registry = FlowRegistry(settings.flows_dir)
    for problem in registry.load():
        click.echo(f"warning: {problem}", err=True)
    return settings, registry, build_understanding(settings.conversation, settings.intents, registry.all())


@click.group()
def intents() -> None:
    """Inspect and test how free text is understood."""


# ---- explain ------------------------------------------------------------------------------------


@intents.command("explain")
@click.argument("text")
@click.option("--limit", default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object: result, kind, candidates")
@click.pass_context
def intents_explain(ctx: click.Context, text: str, limit: int, as_json: bool) -> None:
    """Show what TEXT would start when no flow is waiting, and the best candidates with their scores."""
    settings, _registry, understanding = _understanding(ctx)
    verdict = understanding.understand(text, limit=limit)
    if as_json:
        click.echo(json.dumps(verdict.as_json(), ensure_ascii=False))
        return
    if verdict.kind == "global" and understanding.global_words.match(text):
        click.echo(f'global word: "{verdict.result}" (works anywhere, checked before intents)')
    threshold = settings.intents.threshold
    interrupt = settings.intents.interrupt_threshold
    interrupting = understanding.interrupting
    click.echo(f"{'score':>6}  {'flow':<16} example phrase")
    for match in verdict.candidates:
        marker = ""
        if match.name in interrupting and match.score >= interrupt:
            marker = "  <- would interrupt a flow"
        elif match.score >= threshold:
            marker = "  <- match"
        click.echo(f"{match.score:6.1f}  {match.name:<16} {match.phrase!r}{marker}")
    click.echo(f"verdict: {_verdict_text(verdict)}")
    click.echo(
        f"threshold {threshold:g}, interrupt threshold {interrupt:g}, ask margin {settings.intents.ask_margin:g}"
        " (config.yaml: intents)"
    )


def _verdict_text(verdict: Verdict) -> str:
    if verdict.kind == "ask":
        return "ask: " + " or ".join(m.name for m in verdict.candidates[:2])
    if verdict.kind == "none":
        return "none (small talk)" if verdict.small_talk else "none"
    return f"{verdict.kind}: {verdict.result}"


# ---- test ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    line: int
    text: str
    expected: str


@intents.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--min", "minimum", type=click.FloatRange(0, 100), default=None, help="exit 1 below this accuracy (%)")
@click.option("--misses/--no-misses", default=True, show_default=True, help="list the texts routed wrong")
@click.pass_context
def intents_test(ctx: click.Context, file: str, minimum: float | None, misses: bool) -> None:
    """Route every `text` of FILE (tab-separated, columns `text` and `expected`: a flow id, a global word, or
    `none`) as if no flow were waiting; print the accuracy, per intent, a confusion table and the misses."""
    settings, registry, understanding = _understanding(ctx)
    cases = _read_cases(Path(file))
    same = _equivalents(settings)
    known = {lf.id for lf in registry.all()} | set(type(settings.conversation.global_words).model_fields) | {NONE}
    for case in cases:
        if case.expected not in known:
            click.echo(
                f"{file}:{case.line}: warning: unknown expected {case.expected!r} (not a flow or word)", err=True
            )
    outcomes = [(case, _routed(understanding.understand(case.text), same)) for case in cases]
    right = sum(same.get(case.expected, case.expected) == got for case, got in outcomes)
    accuracy = 100 * right / len(outcomes)
    click.echo(f"accuracy: {accuracy:.1f}% ({right}/{len(outcomes)})")
    _echo_per_intent(outcomes, same)
    _echo_confusion(outcomes, same)
    wrong = [(case, got) for case, got in outcomes if same.get(case.expected, case.expected) != got]
    if misses and wrong:
        click.echo(f"\nmisses ({len(wrong)}):")
        for case, got in wrong:
            click.echo(f"  {file}:{case.line}: expected {case.expected}, got {got}: {case.text!r}")
    if minimum is not None and accuracy < minimum:
        click.echo(f"\naccuracy {accuracy:.1f}% is below --min {minimum:g}%", err=True)
        sys.exit(1)


def _read_cases(path: Path) -> list[Case]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not reader.fieldnames or not {"text", "expected"} <= set(reader.fieldnames):
                _fail(f"{path}:1: the header must name the columns `text` and `expected` (tab-separated)")
            cases = [
                Case(reader.line_num, (row["text"] or "").strip(), (row["expected"] or "").strip().lower())
                for row in reader
                if (row.get("text") or "").strip()
            ]
    except UnicodeDecodeError:
        _fail(f"{path}:1: not a UTF-8 text file")
    if not cases:
        _fail(f"{path}:1: no rows to test")
    return cases


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


def _equivalents(settings: Settings) -> dict[str, str]:
    """A global word and the flow it starts name the same thing ("stop" and opt_out)."""
    conv = settings.conversation
    return {flow: word for word, flow in (("stop", conv.stop_flow), ("human", conv.human_flow)) if flow}


def _routed(verdict: Verdict, same: dict[str, str]) -> str:
    if verdict.kind in ("global", "intent") and verdict.result:
        return same.get(verdict.result, verdict.result)
    return "ask" if verdict.kind == "ask" else NONE


def _echo_per_intent(outcomes: list[tuple[Case, str]], same: dict[str, str]) -> None:
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for case, got in outcomes:
        expected = same.get(case.expected, case.expected)
        totals[expected] += 1
        hits[expected] += expected == got
    click.echo(f"\n{'intent':<16} {'right':>7} {'accuracy':>9}")
    for name in sorted(totals):
        click.echo(f"{name:<16} {hits[name]:>3}/{totals[name]:<3} {100 * hits[name] / totals[name]:>8.1f}%")


def _echo_confusion(outcomes: list[tuple[Case, str]], same: dict[str, str]) -> None:
    """Rows: expected; columns: what the texts were routed to."""
    pairs = Counter((same.get(case.expected, case.expected), got) for case, got in outcomes)
    rows = sorted({e for e, _ in pairs})
    columns = sorted({g for _, g in pairs} | set(rows))
    width = max(6, *(len(c) for c in columns))
    click.echo("\nconfusion (rows: expected, columns: routed to)")
    click.echo(" " * 16 + " ".join(f"{c[:width]:>{width}}" for c in columns))
    for row in rows:
        click.echo(f"{row:<16}" + " ".join(f"{pairs.get((row, c), 0) or '.':>{width}}" for c in columns))


# ---- unmatched ----------------------------------------------------------------------------------


@intents.command("unmatched")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), default=None, help="from this day")
@click.option("--limit", default=50, show_default=True, help="groups shown")
@click.pass_context
def intents_unmatched(ctx: click.Context, since: datetime | None, limit: int) -> None:
    """Messages that started nothing, grouped by similarity with counts: candidates for new intent examples."""
    settings = settings_or_exit(ctx)
    start = None
    if since is not None:
        start = datetime.combine(since.date(), since.time() or time(), tzinfo=settings.business.zone)

    async def job(core: Core) -> list[unmatched.UnmatchedGroup]:
        return await unmatched.grouped(core.db, start)

    groups = run_async(lambda: with_core(settings, job, flows=False))
    if not groups:
        click.echo("no unmatched messages" + (f" since {since:%Y-%m-%d}" if since else ""))
        return
    click.echo(f"{'count':>5}  {'last':<16}  messages")
    for group in groups[:limit]:
        shown = " | ".join(repr(t) for t in group.texts[:3])
        more = f" (+{len(group.texts) - 3} more wordings)" if len(group.texts) > 3 else ""
        click.echo(f"{group.count:>5}  {local_time(settings, group.last_at):<16}  {shown}{more}")
