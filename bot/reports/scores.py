"""The `nps` and `csat` reports: scored survey answers, each customer counted once per survey (once per ticket for a
ticket's CSAT) by their latest answer in the range, and in each period by their latest answer in that period."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.customers.models import Customer
from bot.reports.result import Report, Row
from bot.reports.span import Span, percent, rounded
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Staff, Ticket

MAX_COMMENTS = 500  # the newest; the console pages through the answers themselves
NO_PERSON = "(no ticket)"


def latest_answers(span: Span, kind: str) -> Any:
    """Every scored answer of `kind` in the range, marked `in_range` / `in_period` = 1 when it is its customer's
    latest of the range / of its period (the ones counted)."""
    r = SurveyResponse
    period = span.bucket(r.created_at)
    voice = (r.customer_id, r.survey, r.ticket_id)
    newest = (r.created_at.desc(), r.id.desc())
    query = select(
        r.id, r.customer_id, r.survey, r.ticket_id, r.score, r.comment, r.created_at, period.label("period"),
        func.row_number().over(partition_by=voice, order_by=newest).label("in_range"),
        func.row_number().over(partition_by=(*voice, period), order_by=newest).label("in_period"),
    ).where(r.kind == kind, r.score.is_not(None), span.within(r.created_at))  # fmt: skip
    return with_tier(query, span, r.customer_id).subquery("answers")


def with_tier(query: Select[Any], span: Span, customer_id: Any) -> Select[Any]:
    """Only customers of --tier (their tier now), when one is given."""
    if span.query.tier is None:
        return query
    return query.join(Customer, Customer.id == customer_id).where(Customer.tier == span.query.tier)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _nps_figures(row: Any) -> Row:
    responses, promoters, passives, detractors = (int(v or 0) for v in row)
    nps = percent(promoters - detractors, responses)
    return {"nps": nps, "responses": responses, "promoters": promoters, "passives": passives,
            "detractors": detractors, "promoters_pct": percent(promoters, responses),
            "detractors_pct": percent(detractors, responses)}  # fmt: skip


async def nps_report(session: AsyncSession, span: Span) -> Report:
    a = latest_answers(span, "nps")
    counts = (func.count(), count_if(a.c.score >= 9), count_if(a.c.score.between(7, 8)), count_if(a.c.score <= 6))
    whole = (await session.execute(select(*counts).where(a.c.in_range == 1))).one()
    by_period = select(a.c.period, *counts).where(a.c.in_period == 1).group_by(a.c.period).order_by(a.c.period)
    periods = [{"period": row[0], **_nps_figures(row[1:])} for row in await session.execute(by_period)]
    comments_query = (
        select(a.c.id, a.c.created_at, a.c.customer_id, a.c.survey, a.c.score, a.c.comment)
        .where(a.c.in_range == 1, a.c.comment.is_not(None), a.c.comment != "")
        .order_by(a.c.created_at.desc(), a.c.id.desc()).limit(MAX_COMMENTS)
    )  # fmt: skip
    comments = [_comment(row, span) for row in await session.execute(comments_query)]
    return Report("nps", _nps_figures(whole), periods, {"comments": comments})


def _comment(row: Any, span: Span) -> Row:
    score = row.score
    group = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return {"answer_id": row.id, "at": row.created_at.astimezone(span.zone).isoformat(timespec="minutes"),
            "customer_id": row.customer_id, "survey": row.survey, "score": score, "group": group,
            "comment": row.comment}  # fmt: skip


def _csat_figures(responses: Any, satisfied: Any, total: Any) -> Row:
    responses, satisfied = int(responses or 0), int(satisfied or 0)
    return {"csat": percent(satisfied, responses), "responses": responses, "satisfied": satisfied,
            "average": rounded(total / responses, 2) if responses else None}  # fmt: skip


async def csat_report(session: AsyncSession, span: Span) -> Report:
    a = latest_answers(span, "csat")
    counts = (func.count(), count_if(a.c.score >= 4), func.coalesce(func.sum(a.c.score), 0))
    whole = (await session.execute(select(*counts).where(a.c.in_range == 1))).one()
    by_period = select(a.c.period, *counts).where(a.c.in_period == 1).group_by(a.c.period).order_by(a.c.period)
    periods = [{"period": row[0], **_csat_figures(*row[1:])} for row in await session.execute(by_period)]
    key = func.coalesce(Staff.key, literal(NO_PERSON))
    per_person_query = (
        select(key, func.max(Staff.name), *counts)
        .select_from(a).outerjoin(Ticket, Ticket.id == a.c.ticket_id).outerjoin(Staff, Staff.id == Ticket.assignee_id)
        .where(a.c.in_range == 1).group_by(key).order_by(key)
    )  # fmt: skip
    people = [{"staff": row[0], "name": row[1] or "", **_csat_figures(*row[2:])}
              for row in await session.execute(per_person_query)]  # fmt: skip
    return Report("csat", _csat_figures(*whole), periods, {"per_person": people})
