"""The rows behind the flows, campaigns and retention figures (the console's drill-down, with drilldown.py): the
conversation runs at a flow's step, the customers a campaign occurrence reached or skipped, and a signup cohort's
customers. Each takes the report's span, the report's groups as filters, and a page."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.conversations.models import DONE, ConversationRun
from bot.customers.models import Customer, CustomerEvent
from bot.outreach.models import SENT, SKIPPED, CampaignRun, DeliveryDecision
from bot.reports.campaigns import within_window
from bot.reports.drilldown import Page
from bot.reports.flows import dropped_runs, visits
from bot.reports.result import Row
from bot.reports.scores import with_tier
from bot.reports.span import Span, local_midnight, moment
from bot.reports.tickets import local
from bot.transcript.models import INBOUND, Message

StepState = Literal["reached", "answered", "dropped"]
Outcome = Literal["replied", "pressed", "opted_out", "completed_flow"]
OUTCOMES: tuple[Outcome, ...] = ("replied", "pressed", "opted_out", "completed_flow")


async def step_runs(
    session: AsyncSession, span: Span, *, flow: str, step_index: int, state: StepState = "reached",
    page: Page = Page(),
) -> list[Row]:  # fmt: skip
    """The runs behind a `flows` figure: those that reached (entered in the range), answered, or dropped off at one
    step of one flow, first entered first."""
    v = visits(span)
    r = ConversationRun
    query = (
        select(v.c.run_id, r.customer_id, r.status, v.c.entered_at, v.c.answered_at)
        .select_from(v).outerjoin(r, r.id == v.c.run_id)  # the log outlives an erased run
        .where(v.c.flow_id == flow, v.c.step_index == step_index)
    )  # fmt: skip
    if state == "reached":
        query = query.where(v.c.entered_at.is_not(None))
    elif state == "answered":
        query = query.where(v.c.answered_at.is_not(None))
    elif state == "dropped":
        d = dropped_runs(span).subquery("dropped")
        query = query.where(v.c.run_id.in_(select(d.c.run_id).where(d.c.flow_id == flow,
                                                                     d.c.step_index == step_index)))  # fmt: skip
    else:
        raise ValueError(f"a step's runs are reached, answered or dropped, not {state!r}")
    rows = await session.execute(query.order_by(v.c.entered_at, v.c.run_id).limit(page.limit).offset(page.offset))
    return [{"run_id": row.run_id, "customer_id": row.customer_id, "status": row.status,
             "entered": local(span, row.entered_at), "answered": local(span, row.answered_at)}
            for row in rows]  # fmt: skip


async def deliveries(
    session: AsyncSession, span: Span, *, run: int | None = None, decision: str = SENT, reason: str | None = None,
    outcome: Outcome | None = None, page: Page = Page(),
) -> list[Row]:  # fmt: skip
    """The customers behind a `campaigns` figure: those one occurrence (`run`, else every occurrence due in the range)
    sent to or skipped (optionally for one reason), one row per customer and occurrence; for those sent to,
    optionally only those who then replied, pressed a button, opted out or completed the campaign's flow within the
    attribution window."""
    if decision not in (SENT, SKIPPED):
        raise ValueError(f"a delivery was {SENT} or {SKIPPED}, not {decision!r}")
    d, r = DeliveryDecision, CampaignRun
    when = func.min(d.created_at).label("at")
    query = (
        select(d.campaign_run_id.label("run_id"), r.campaign, r.occurrence, d.customer_id,
               func.max(d.reason).label("reason"), when)
        .join(r, r.id == d.campaign_run_id)
        .where(d.decision == decision, span.within(r.due_at) if run is None else d.campaign_run_id == run)
        .group_by(d.campaign_run_id, r.campaign, r.occurrence, d.customer_id)
    )  # fmt: skip
    if reason is not None:
        query = query.where(d.reason == reason)
    g = with_tier(query, span, d.customer_id).subquery("delivered")
    picked = select(g)
    if outcome is not None:
        if decision != SENT:
            raise ValueError("only customers sent to have outcomes")
        picked = picked.where(_did(span, outcome, g.c.customer_id, g.c.at, g.c.campaign))
    rows = await session.execute(picked.order_by(g.c.at, g.c.customer_id).limit(page.limit).offset(page.offset))
    return [{"run_id": row.run_id, "campaign": row.campaign, "occurrence": row.occurrence,
             "customer_id": row.customer_id, "decision": decision, "reason": row.reason or None,
             "at": local(span, row.at)} for row in rows]  # fmt: skip


def _did(span: Span, outcome: Outcome, customer_id: Any, sent_at: Any, campaign: Any) -> Any:
    """What the report counts for a customer sent to at `sent_at` (bot/reports/campaigns.py): the same conditions."""
    m, c = Message, ConversationRun
    if outcome in ("replied", "pressed"):
        wrote = [m.customer_id == customer_id, m.direction == INBOUND, within_window(span, sent_at, m.created_at)]
        if outcome == "pressed":
            wrote.append(m.payload["choice"].as_string().is_not(None))
        return exists().where(*wrote)
    if outcome == "opted_out":
        who = aliased(Customer)
        return exists().where(who.id == customer_id, within_window(span, sent_at, who.opted_out_at))
    if outcome == "completed_flow":
        return exists().where(c.customer_id == customer_id, c.status == DONE,
                              within_window(span, sent_at, c.started_at),
                              c.context[("trigger", "campaign")].as_string() == campaign)  # fmt: skip
    raise ValueError(f"an outcome is one of {', '.join(OUTCOMES)}, not {outcome!r}")


async def cohort_customers(
    session: AsyncSession, span: Span, *, cohort: str, month: int | None = None, page: Page = Page(),
) -> list[Row]:  # fmt: skip
    """The customers behind a `retention` figure: those who became known in the `cohort` month ('YYYY-MM', business
    time zone, within the range), optionally only those active `month` months later (an inbound message or a CRM
    event in that month, within the range), oldest first."""
    try:
        first = date.fromisoformat(f"{cohort}-01")
    except ValueError:
        raise ValueError(f"a cohort is a month like 2026-03, not {cohort!r}") from None
    if month is not None and month < 0:
        raise ValueError("month counts from 0, the signup month")
    c = Customer
    query = select(c.id, c.display_name, c.tier, c.created_at).where(
        span.within(c.created_at), *_in_month(span, c.created_at, first)
    )
    if span.query.tier is not None:
        query = query.where(c.tier == span.query.tier)
    if month is not None:
        active_month = _add_months(first, month)
        wrote = exists().where(
            Message.customer_id == c.id,
            Message.direction == INBOUND,
            span.within(Message.created_at),
            *_in_month(span, Message.created_at, active_month),
        )
        happened = exists().where(CustomerEvent.customer_id == c.id, span.within(CustomerEvent.occurred_at),
                                  *_in_month(span, CustomerEvent.occurred_at, active_month))  # fmt: skip
        query = query.where(or_(wrote, happened))
    rows = await session.execute(query.order_by(c.created_at, c.id).limit(page.limit).offset(page.offset))
    return [{"customer_id": row.id, "name": row.display_name, "tier": row.tier,
             "became_known": local(span, row.created_at)} for row in rows]  # fmt: skip


def _add_months(first: date, months: int) -> date:
    total = first.year * 12 + first.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def _in_month(span: Span, column: Any, first: date) -> list[Any]:
    """`column` in the local month starting on `first` (bounds an index can use)."""
    start, end = local_midnight(first, span.zone), local_midnight(_add_months(first, 1), span.zone)
    return [and_(column >= moment(start), column < moment(end))]
