"""The rows behind a report's number (the console's drill-down): the answers counted in an NPS or CSAT figure, the
tickets behind an SLA or complaints figure, the cancellations behind a churn figure. Each takes the report's span,
the same filters the report groups by, and a page (limit, offset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import and_, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.customers.models import Customer, CustomerEvent
from bot.reports.churn import CANCELLED, WIN_BACK_DAYS, reason_of, tenure_of, won_back
from bot.reports.result import Row
from bot.reports.scores import counted, latest_answers
from bot.reports.span import Span
from bot.reports.tickets import UNASSIGNED, clocks, local, tickets_in
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Staff, Ticket

MAX_ROWS = 1000
SCORE_GROUPS = {
    "promoter": lambda s: s >= 9, "passive": lambda s: s.between(7, 8), "detractor": lambda s: s <= 6,
    "satisfied": lambda s: s >= 4, "unsatisfied": lambda s: s <= 3,
}  # fmt: skip
Missed = Literal["first_response", "resolution", "any"]


@dataclass(frozen=True)
class Page:
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_ROWS or self.offset < 0:
            raise ValueError(f"a page holds 1 to {MAX_ROWS} rows from offset 0 on")


async def answers(
    session: AsyncSession, span: Span, kind: str, *, period: str | None = None, group: str | None = None,
    staff: str | None = None, page: Page = Page(),
) -> list[Row]:  # fmt: skip
    """The answers an `nps` or `csat` figure counts: the range's (or, with `period`, that period's) latest answer of
    each customer, optionally only a score group (promoter, passive, detractor, satisfied, unsatisfied) or a staff
    person's (by key, through the ticket; "(no ticket)" for none), newest first."""
    r = SurveyResponse
    a = latest_answers(span, kind, r.id.label("id"), r.customer_id.label("customer_id"), r.survey.label("survey"),
                       r.comment.label("comment"), r.created_at.label("created_at"))  # fmt: skip
    in_period, in_range = counted(a)
    conditions = [in_period, span.label(a.c.period) == period] if period else [in_range]
    if group is not None:
        conditions.append(SCORE_GROUPS[group](a.c.score))
    query = select(a.c.id, a.c.created_at, a.c.customer_id, a.c.survey, a.c.score, a.c.comment, a.c.ticket_id)
    if staff is not None:
        query = query.outerjoin(Ticket, Ticket.id == a.c.ticket_id).outerjoin(Staff, Staff.id == Ticket.assignee_id)
        conditions.append(Staff.key.is_(None) if staff == "(no ticket)" else Staff.key == staff)
    query = query.where(*conditions).order_by(a.c.created_at.desc(), a.c.id.desc()).limit(page.limit)
    rows = await session.execute(query.offset(page.offset))
    return [{"answer_id": row.id, "at": local(span, row.created_at), "customer_id": row.customer_id,
             "survey": row.survey, "score": row.score, "comment": row.comment, "ticket_id": row.ticket_id}
            for row in rows]  # fmt: skip


async def tickets(
    session: AsyncSession, span: Span, *, kind: str | None = None, period: str | None = None,
    severity: str | None = None, category: str | None = None, staff: str | None = None, missed: Missed | None = None,
    met: Missed | None = None, reopened: bool | None = None, page: Page = Page(),
) -> list[Row]:  # fmt: skip
    """The tickets opened in the range behind an `sla` or `complaints` figure (kind "complaint" for the latter),
    filtered like the report's groups; `missed`: only those that missed that clock (or either); `met`: only those
    that met it (or both); `reopened`: only those reopened (or never reopened), oldest first."""
    t, c = Ticket, clocks(span)
    query = tickets_in(span, t.id, t.ref, t.kind, t.created_at, t.status, t.severity, t.category, Staff.key,
                       t.first_responded_at, t.resolved_at, t.csat_score, t.reopened_count, c["fr_missed"],
                       c["res_missed"]).outerjoin(Staff, Staff.id == t.assignee_id)  # fmt: skip
    filters = {t.kind: kind, t.severity: severity, t.category: category}
    query = query.where(*[column == value for column, value in filters.items() if value is not None])
    if period is not None:
        query = query.where(span.label(span.bucket(t.created_at)) == period)
    if staff is not None:
        query = query.where(Staff.key.is_(None) if staff == UNASSIGNED else Staff.key == staff)
    if missed is not None:
        late = {"first_response": c["fr_missed"], "resolution": c["res_missed"]}
        query = query.where(late[missed] if missed in late else or_(*late.values()))
    if met is not None:
        kept = {"first_response": c["fr_met"], "resolution": c["res_met"]}
        query = query.where(kept[met] if met in kept else and_(*kept.values()))
    if reopened is not None:
        query = query.where(t.reopened_count > 0 if reopened else t.reopened_count == 0)
    rows = await session.execute(query.order_by(t.created_at, t.id).limit(page.limit).offset(page.offset))
    return [{"ticket_id": r.id, "ref": r.ref, "kind": r.kind, "opened": local(span, r.created_at), "status": r.status,
             "severity": r.severity, "category": r.category, "staff": r.key or UNASSIGNED,
             "first_responded": local(span, r.first_responded_at), "resolved": local(span, r.resolved_at),
             "csat_score": r.csat_score, "reopened": r.reopened_count,
             "missed": [name for name, flag in (("first_response", r[12]), ("resolution", r[13])) if flag]}
            for r in rows]  # fmt: skip


async def cancellations(
    session: AsyncSession, span: Span, *, reason: str | None = None, tier: str | None = None,
    period: str | None = None, tenure: str | None = None, won_back_within: int | None = None, page: Page = Page(),
) -> list[Row]:  # fmt: skip
    """The `cancelled` events behind a churn figure, by reason, tier (now), period, tenure (the report's labels),
    or only those won back within 30 or 90 days, oldest first."""
    e = aliased(CustomerEvent, name="e")
    why = reason_of(e)
    query = (
        select(e.id, e.customer_id, e.occurred_at, Customer.tier, why.label("reason"))
        .join(Customer, Customer.id == e.customer_id)
        .where(e.name == CANCELLED, span.within(e.occurred_at))
    )
    conditions = [Customer.tier == t for t in (span.query.tier, tier) if t is not None]
    if reason is not None:
        conditions.append(why == literal(reason))
    if period is not None:
        conditions.append(span.label(span.bucket(e.occurred_at)) == period)
    if tenure is not None:
        conditions.append(tenure_of(span, e) == literal(tenure))
    if won_back_within is not None:
        if won_back_within not in WIN_BACK_DAYS:
            raise ValueError(f"won back within {won_back_within} days: the report counts {WIN_BACK_DAYS}")
        conditions.append(won_back(span, e, won_back_within))
    query = query.where(and_(*conditions)) if conditions else query
    rows = await session.execute(query.order_by(e.occurred_at, e.id).limit(page.limit).offset(page.offset))
    return [{"event_id": r.id, "customer_id": r.customer_id, "at": local(span, r.occurred_at), "tier": r.tier,
             "reason": r.reason} for r in rows]  # fmt: skip
