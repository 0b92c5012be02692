"""The `sla` and `complaints` reports: tickets opened in the range, their SLA clocks, categories and timings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.reports.result import Report, Row
from bot.reports.scores import count_if, with_tier
from bot.reports.span import Span, moment, percent, rounded
from bot.tickets.models import Staff, Ticket

MAX_BREACHES = 1000
UNASSIGNED = "(unassigned)"


def _clock(span: Span, done: Any, due: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(met, missed) for one SLA clock: met when done by its deadline; missed when done late, or not done and the
    deadline has passed. Neither while it still runs, or for a ticket without that deadline."""
    now = moment(span.now)
    met = and_(due.is_not(None), done.is_not(None), done <= due)
    missed = and_(due.is_not(None), or_(done > due, and_(done.is_(None), due < now)))
    return met, missed


def clocks(span: Span) -> dict[str, ColumnElement[bool]]:
    t = Ticket
    fr_met, fr_missed = _clock(span, t.first_responded_at, t.first_response_due)
    res_met, res_missed = _clock(span, t.resolved_at, t.resolution_due)
    return {"fr_met": fr_met, "fr_missed": fr_missed, "res_met": res_met, "res_missed": res_missed}


def _sla_counts(span: Span) -> list[ColumnElement[int]]:
    c = clocks(span)
    either = or_(c["fr_missed"], c["res_missed"])
    return [func.count(), count_if(c["fr_met"]), count_if(c["fr_missed"]), count_if(c["res_met"]),
            count_if(c["res_missed"]), count_if(either)]  # fmt: skip


def _sla_figures(row: Any) -> Row:
    tickets, fr_met, fr_missed, res_met, res_missed, breached = (int(v or 0) for v in row)
    return {"tickets": tickets, "first_response_met": fr_met, "first_response_missed": fr_missed,
            "first_response_pct": percent(fr_met, fr_met + fr_missed), "resolution_met": res_met,
            "resolution_missed": res_missed, "resolution_pct": percent(res_met, res_met + res_missed),
            "breached_tickets": breached}  # fmt: skip


def tickets_in(span: Span, *columns: Any) -> Any:
    query = select(*columns).select_from(Ticket).where(span.within(Ticket.created_at))
    return with_tier(query, span, Ticket.customer_id)


async def sla_report(session: AsyncSession, span: Span) -> Report:
    counts = _sla_counts(span)
    whole = (await session.execute(tickets_in(span, *counts))).one()
    period = span.bucket(Ticket.created_at)
    periods = [
        {"period": row[0], **_sla_figures(row[1:])}
        for row in await session.execute(
            tickets_in(span, span.label(period), *counts).group_by(period).order_by(period)
        )
    ]
    severity_query = tickets_in(span, Ticket.severity, *counts).group_by(Ticket.severity).order_by(Ticket.severity)
    severities = [{"severity": row[0], **_sla_figures(row[1:])} for row in await session.execute(severity_query)]
    person = func.coalesce(Staff.key, literal(UNASSIGNED))
    person_query = (tickets_in(span, person, func.max(Staff.name), *counts)
                    .outerjoin(Staff, Staff.id == Ticket.assignee_id).group_by(person).order_by(person))  # fmt: skip
    people = [{"staff": row[0], "name": row[1] or "", **_sla_figures(row[2:])}
              for row in await session.execute(person_query)]  # fmt: skip
    tables = {"breaches": await _breaches(session, span), "per_severity": severities, "per_person": people}
    return Report("sla", _sla_figures(whole), periods, tables, primary="breaches")


async def _breaches(session: AsyncSession, span: Span) -> list[Row]:
    c = clocks(span)
    t = Ticket
    query = (
        tickets_in(span, t.id, t.ref, t.created_at, t.severity, t.category, t.status, Staff.key, c["fr_missed"],
                 c["res_missed"], t.first_response_due, t.first_responded_at, t.resolution_due, t.resolved_at)
        .outerjoin(Staff, Staff.id == t.assignee_id)
        .where(or_(c["fr_missed"], c["res_missed"]))
        .order_by(t.created_at, t.id).limit(MAX_BREACHES)
    )  # fmt: skip
    rows = []
    for r in await session.execute(query):
        missed = [name for name, flag in (("first_response", r[7]), ("resolution", r[8])) if flag]
        rows.append({"ticket_id": r.id, "ref": r.ref, "opened": local(span, r.created_at), "severity": r.severity,
                     "category": r.category, "status": r.status, "staff": r.key or UNASSIGNED, "missed": missed,
                     "first_response_due": local(span, r.first_response_due),
                     "first_responded": local(span, r.first_responded_at),
                     "resolution_due": local(span, r.resolution_due),
                     "resolved": local(span, r.resolved_at)})  # fmt: skip
    return rows


def local(span: Span, value: Any) -> str | None:
    return None if value is None else value.astimezone(span.zone).isoformat(timespec="minutes")


def _timing_columns(span: Span) -> list[ColumnElement[Any]]:
    t = Ticket
    return [
        func.count(),
        func.avg(span.days_between(t.created_at, t.first_responded_at) * 24),
        func.avg(span.days_between(t.created_at, t.resolved_at) * 24),
        count_if(t.reopened_count > 0),
        count_if(t.csat_score.is_not(None)),
        count_if(t.csat_score >= 4),
    ]


def _complaint_figures(row: Any) -> Row:
    tickets, first_response, resolution, reopened, rated, satisfied = row
    tickets, reopened, rated, satisfied = int(tickets or 0), int(reopened or 0), int(rated or 0), int(satisfied or 0)
    return {"tickets": tickets, "avg_hours_to_first_response": rounded(first_response),
            "avg_hours_to_resolution": rounded(resolution), "reopened": reopened,
            "reopen_rate": percent(reopened, tickets), "csat_after_resolution": percent(satisfied, rated),
            "csat_responses": rated}  # fmt: skip


async def complaints_report(session: AsyncSession, span: Span) -> Report:
    def complaints(*columns: Any) -> Any:
        return tickets_in(span, *columns).where(Ticket.kind == "complaint")

    timings = _timing_columns(span)
    whole = (await session.execute(complaints(*timings))).one()
    period = span.bucket(Ticket.created_at)
    periods: list[Row] = [
        {"period": row[0], **_complaint_figures(row[1:]), "categories": {}}
        for row in await session.execute(complaints(span.label(period), *timings).group_by(period).order_by(period))
    ]
    by_period = {row["period"]: row for row in periods}
    per_category = complaints(span.label(period), Ticket.category, func.count()).group_by(period, Ticket.category)
    for when, category, n in await session.execute(per_category.order_by(period, func.count().desc())):
        by_period[when]["categories"][category] = n
    category_query = complaints(Ticket.category, *timings).group_by(Ticket.category)
    categories = sorted(
        ({"category": row[0], **_complaint_figures(row[1:])} for row in await session.execute(category_query)),
        key=lambda row: (-row["tickets"], row["category"]),
    )
    figures = _complaint_figures(whole)
    for row in categories:
        row["share"] = percent(row["tickets"], figures["tickets"])
    return Report("complaints", figures, periods, {"categories": categories})
