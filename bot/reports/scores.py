"""The `nps` and `csat` reports: scored survey answers, each customer counted once per survey (once per ticket for a
ticket's CSAT) by their latest answer in the range, and in each period by their latest answer in that period.

One scan of the answers does both: a single window over each customer's answers marks the newest of the range (no
answer after it) and the newest of each period (the next answer is in another period, or there is none).
The per-period sums of both marks come back; the range's figures are the sums of the `in_range` ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.customers.models import Customer
from bot.reports.result import Report, Row
from bot.reports.span import Span, percent, rounded
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Staff, Ticket

MAX_COMMENTS = 500  # the newest; the console pages through the answers themselves
NO_PERSON = "(no ticket)"


def latest_answers(span: Span, kind: str, *extra: Any) -> Any:
    """Every scored answer of `kind` in the range with its period, and the id and period of its customer's next
    answer (None for the newest). The window's order is the index ix_survey_responses_kind_voice's: PostgreSQL reads
    the answers in that order from the index alone, with no sort."""
    r = SurveyResponse
    period = span.bucket(r.created_at)
    window = {"partition_by": (r.customer_id, r.survey, r.ticket_id), "order_by": (r.created_at, r.id)}
    query = select(
        r.ticket_id, r.score, period.label("period"), *extra,
        func.lead(r.id).over(**window).label("newer_id"),
        func.lead(period).over(**window).label("newer_period"),
    ).where(r.kind == kind, r.score.is_not(None), span.within(r.created_at))  # fmt: skip
    return with_tier(query, span, r.customer_id).subquery("answers")


def counted(answers: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(counted in its period, counted in the range): the customer's newest answer of the period / of the range."""
    in_period = or_(answers.c.newer_period.is_(None), answers.c.newer_period != answers.c.period)
    return in_period, answers.c.newer_id.is_(None)


def tallies(answers: Any, conditions: Sequence[ColumnElement[bool] | None]) -> list[ColumnElement[int]]:
    """For each condition (None: every answer), the answers counted in their period, then in the range."""
    return [count_if(mark if cond is None else and_(mark, cond)) for mark in counted(answers) for cond in conditions]


def split(rows: Sequence[Any], width: int) -> tuple[list[tuple[Any, list[int]]], list[int]]:
    """Rows of (period, `width` period tallies, `width` range tallies) -> ([(period, its tallies)], the range's
    tallies: the sums over all periods)."""
    per_period = [(row[0], [int(v or 0) for v in row[1 : 1 + width]]) for row in rows]
    whole = [sum(int(row[1 + width + i] or 0) for row in rows) for i in range(width)]
    return per_period, whole


def with_tier(query: Select[Any], span: Span, customer_id: Any) -> Select[Any]:
    """Only customers of --tier (their tier now), when one is given."""
    if span.query.tier is None:
        return query
    return query.join(Customer, Customer.id == customer_id).where(Customer.tier == span.query.tier)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """COUNT(*) FILTER (WHERE condition): PostgreSQL and SQLite (3.30+) both have it, and it is cheaper than a
    SUM(CASE ...) over a million rows."""
    return func.count().filter(condition)


def _nps_figures(counts: Sequence[int]) -> Row:
    responses, promoters, passives, detractors = counts
    nps = percent(promoters - detractors, responses)
    return {"nps": nps, "responses": responses, "promoters": promoters, "passives": passives,
            "detractors": detractors, "promoters_pct": percent(promoters, responses),
            "detractors_pct": percent(detractors, responses)}  # fmt: skip


async def nps_report(session: AsyncSession, span: Span) -> Report:
    a = latest_answers(span, "nps")
    groups = (None, a.c.score >= 9, a.c.score.between(7, 8), a.c.score <= 6)
    query = select(span.label(a.c.period), *tallies(a, groups)).group_by(a.c.period).order_by(a.c.period)
    per_period, whole = split((await session.execute(query)).all(), len(groups))
    periods = [{"period": when, **_nps_figures(counts)} for when, counts in per_period if counts[0]]
    r = SurveyResponse
    comments_query = with_tier(
        select(r.id, r.created_at, r.customer_id, r.survey, r.score, r.comment)
        .where(r.kind == "nps", r.score.is_not(None), r.comment.is_not(None), r.comment != "",
               span.within(r.created_at))
        .order_by(r.created_at.desc(), r.id.desc()).limit(MAX_COMMENTS), span, r.customer_id)  # fmt: skip
    comments = [_comment(row, span) for row in await session.execute(comments_query)]
    return Report("nps", _nps_figures(whole), periods, {"comments": comments})


def _comment(row: Any, span: Span) -> Row:
    score = row.score
    group = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return {"answer_id": row.id, "at": row.created_at.astimezone(span.zone).isoformat(timespec="minutes"),
            "customer_id": row.customer_id, "survey": row.survey, "score": score, "group": group,
            "comment": row.comment}  # fmt: skip


def _csat_figures(counts: Sequence[int]) -> Row:
    responses, satisfied, total = counts
    return {"csat": percent(satisfied, responses), "responses": responses, "satisfied": satisfied,
            "average": rounded(total / responses, 2) if responses else None}  # fmt: skip


async def csat_report(session: AsyncSession, span: Span) -> Report:
    """One query, grouped by period and staff person (through the answer's ticket): the periods, the range and the
    people are sums of its rows."""
    a = latest_answers(span, "csat")
    in_period, in_range = counted(a)
    sums = [count_if(in_period), count_if(and_(in_period, a.c.score >= 4)),
            func.coalesce(func.sum(a.c.score).filter(in_period), 0),
            count_if(in_range), count_if(and_(in_range, a.c.score >= 4)),
            func.coalesce(func.sum(a.c.score).filter(in_range), 0)]  # fmt: skip
    key = func.coalesce(Staff.key, literal(NO_PERSON))
    query = (
        select(span.label(a.c.period), key, func.max(Staff.name), *sums)
        .select_from(a).outerjoin(Ticket, Ticket.id == a.c.ticket_id).outerjoin(Staff, Staff.id == Ticket.assignee_id)
        .group_by(a.c.period, key)
    )  # fmt: skip
    rows = (await session.execute(query)).all()
    by_period: dict[str, list[int]] = {}
    people: dict[str, tuple[str, list[int]]] = {}
    for when, person, name, *values in rows:
        numbers = [int(v or 0) for v in values]
        period_sums = by_period.setdefault(when, [0, 0, 0])
        person_sums = people.setdefault(person, (name or "", [0, 0, 0]))[1]
        for i in range(3):
            period_sums[i] += numbers[i]
            person_sums[i] += numbers[3 + i]
    whole = [sum(p[1][i] for p in people.values()) for i in range(3)]
    periods = [{"period": when, **_csat_figures(sums_)} for when, sums_ in sorted(by_period.items()) if sums_[0]]
    per_person = [{"staff": person, "name": name, **_csat_figures(sums_)}
                  for person, (name, sums_) in sorted(people.items()) if sums_[0]]  # fmt: skip
    return Report("csat", _csat_figures(whole), periods, {"per_person": per_person})
