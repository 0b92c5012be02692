"""The `flows` report: per flow and step, from the step log (bot/conversations/steplog.py), how many runs reached it,
answered it, dropped off there, and the median time they took to answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations.models import ACTIVE, CANCELLED, ConversationRun
from bot.conversations.steplog import ANSWERED, ENTERED, StepEntry
from bot.reports.result import Report, Row
from bot.reports.scores import with_tier
from bot.reports.span import Span, moment, percent

IDLE = timedelta(hours=24)  # an open run that has not moved for this long has dropped off


def _entries(span: Span, *columns: Any) -> Any:
    """The step log of the range; joined to the runs only for --tier (the log names no customer)."""
    query = select(*columns).select_from(StepEntry).where(span.within(StepEntry.at))
    if span.query.tier is None:
        return query
    return with_tier(query.join(ConversationRun, ConversationRun.id == StepEntry.run_id), span,
                     ConversationRun.customer_id)  # fmt: skip


def visits(span: Span) -> Any:
    """One row per run and step: when the run first entered it, and first answered it (None if never)."""
    s = StepEntry
    step = (s.flow_id, s.step_index, s.step_id, s.step_kind)
    entered = func.min(case((s.event == ENTERED, s.at))).label("entered_at")
    answered = func.min(case((s.event == ANSWERED, s.at))).label("answered_at")
    return _entries(span, *step, s.run_id, entered, answered).group_by(*step, s.run_id).subquery("visits")


async def flows_report(session: AsyncSession, span: Span) -> Report:
    v = visits(span)
    keys = (v.c.flow_id, v.c.step_index, v.c.step_id, v.c.step_kind)
    days = span.days_between(v.c.entered_at, v.c.answered_at)
    columns = [func.count(v.c.entered_at), func.count(v.c.answered_at)]
    if span.dialect == "postgresql":
        columns.append(func.percentile_cont(0.5).within_group(days))  # NULLs (never answered) are left out
    counts = {tuple(row[:4]): row[4:] for row in await session.execute(select(*keys, *columns).group_by(*keys))}
    medians = {key: row[2] for key, row in counts.items()} if span.dialect == "postgresql" else await _medians(
        session, v, days)  # fmt: skip
    dropped = await _dropped(session, span)
    rows: list[Row] = []
    for key in sorted(counts, key=lambda k: (k[0], k[1], k[2] or "")):
        flow_id, index, step_id, kind = key
        n_reached, n_answered = int(counts[key][0] or 0), int(counts[key][1] or 0)
        n_dropped = dropped.get(key, 0)
        median = medians.get(key)
        seconds = None if median is None else round(float(median) * 86400, 1)
        rows.append({"flow": flow_id, "step_index": index, "step": step_id or f"#{index}", "kind": kind,
                     "reached": n_reached, "answered": n_answered if kind == "ask" else None, "dropped": n_dropped,
                     "drop_off_pct": percent(n_dropped, n_reached),
                     "median_seconds_to_answer": seconds})  # fmt: skip
    started = {}
    for row in rows:
        started[row["flow"]] = max(started.get(row["flow"], 0), row["reached"] if row["step_index"] == 0 else 0)
    figures = {"flows": len(started), "runs_started": sum(started.values()),
               "dropped": sum(row["dropped"] for row in rows)}  # fmt: skip
    return Report("flows", figures, None, {"steps": rows}, primary="steps")


async def _medians(session: AsyncSession, v: Any, days: Any) -> dict[tuple[Any, ...], float]:
    """SQLite has no percentile function: per step, the middle answer time(s) in order."""
    keys = (v.c.flow_id, v.c.step_index, v.c.step_id, v.c.step_kind)
    ranked = (
        select(*keys, days.label("days"), func.row_number().over(partition_by=keys, order_by=days).label("n"),
               func.count().over(partition_by=keys).label("total"))
        .where(v.c.answered_at.is_not(None), v.c.entered_at.is_not(None)).subquery("ranked")
    )  # fmt: skip
    rkeys = (ranked.c.flow_id, ranked.c.step_index, ranked.c.step_id, ranked.c.step_kind)
    middle = or_(ranked.c.n == (ranked.c.total + 1) / 2, ranked.c.n == (ranked.c.total + 2) / 2)
    query = select(*rkeys, func.avg(ranked.c.days)).where(middle).group_by(*rkeys)
    return {tuple(row[:4]): float(row[4]) for row in await session.execute(query) if row[4] is not None}


def dropped_runs(span: Span) -> Any:
    """The runs that dropped off, with the step they dropped off at: their last entry in the range is entering that
    step (never answered or passed), and they were closed without finishing (cancelled) or have stood still for
    IDLE."""
    s, r = StepEntry, ConversationRun
    last = _entries(span, s.run_id, func.max(s.id).label("last_id")).group_by(s.run_id).subquery("last")
    gone = or_(r.status == CANCELLED, and_(r.status == ACTIVE, r.updated_at < moment(span.now - IDLE)))
    return (select(s.run_id, s.flow_id, s.step_index, s.step_id, s.step_kind)
            .select_from(last).join(s, s.id == last.c.last_id).join(r, r.id == s.run_id)
            .where(s.event == ENTERED, gone))  # fmt: skip


async def _dropped(session: AsyncSession, span: Span) -> dict[tuple[Any, ...], int]:
    d = dropped_runs(span).subquery("dropped")
    keys = (d.c.flow_id, d.c.step_index, d.c.step_id, d.c.step_kind)
    query = select(*keys, func.count()).group_by(*keys)
    return {tuple(row[:4]): int(row[4]) for row in await session.execute(query)}
