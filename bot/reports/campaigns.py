"""The `campaigns` report: per campaign occurrence, what was planned, sent and skipped (by reason), and what the
customers it reached did within the attribution window: replies, button presses, opt-outs, flows completed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.conversations.models import DONE, ConversationRun
from bot.customers.models import Customer
from bot.outreach.models import SENT, SKIPPED, CampaignRun, DeliveryDecision
from bot.reports.result import Report, Row
from bot.reports.scores import count_if, with_tier
from bot.reports.span import Span
from bot.transcript.models import INBOUND, Message

ATTRIBUTION_DAYS = 3  # what a customer does within this long after a send counts for the campaign


def _after(span: Span, sent_at: Any, column: Any) -> ColumnElement[bool]:
    return and_(column >= sent_at, span.days_between(sent_at, column) <= ATTRIBUTION_DAYS)


async def campaigns_report(session: AsyncSession, span: Span) -> Report:
    d, r = DeliveryDecision, CampaignRun
    runs = {row.id: row for row in await session.execute(
        select(r.id, r.campaign, r.occurrence, r.status, r.planned, r.due_at)
        .where(span.within(r.due_at)).order_by(r.due_at, r.id))}  # fmt: skip
    if not runs:
        return Report("campaigns", _figures([]), None, {"occurrences": []}, primary="occurrences")
    sent_query = (
        select(
            d.campaign_run_id.label("run_id"),
            d.customer_id.label("customer_id"),
            func.min(d.created_at).label("sent_at"),
        )
        .where(d.decision == SENT, d.campaign_run_id.in_(runs))
        .group_by(d.campaign_run_id, d.customer_id)
    )
    s = with_tier(sent_query, span, d.customer_id).subquery("sent")  # fmt: skip
    wrote = exists().where(Message.customer_id == s.c.customer_id, Message.direction == INBOUND,
                           _after(span, s.c.sent_at, Message.created_at))  # fmt: skip
    pressed = exists().where(Message.customer_id == s.c.customer_id, Message.direction == INBOUND,
                             Message.payload["choice"].as_string().is_not(None),
                             _after(span, s.c.sent_at, Message.created_at))  # fmt: skip
    c = ConversationRun
    completed = exists().where(c.customer_id == s.c.customer_id, c.status == DONE,
                               c.context[("trigger", "campaign")].as_string() == r.campaign,
                               _after(span, s.c.sent_at, c.started_at))  # fmt: skip
    opted_out = _after(span, s.c.sent_at, Customer.opted_out_at)
    outcome_query = (
        select(s.c.run_id, func.count(), count_if(wrote), count_if(pressed), count_if(opted_out), count_if(completed))
        .select_from(s).join(r, r.id == s.c.run_id).join(Customer, Customer.id == s.c.customer_id)
        .group_by(s.c.run_id)
    )  # fmt: skip
    outcomes = {row[0]: row[1:] for row in await session.execute(outcome_query)}
    skipped: dict[int, dict[str, int]] = {}
    skip_query = with_tier(select(d.campaign_run_id, d.reason, func.count(func.distinct(d.customer_id)))
                           .where(d.decision == SKIPPED, d.campaign_run_id.in_(runs)), span, d.customer_id)  # fmt: skip
    for run_id, reason, n in await session.execute(skip_query.group_by(d.campaign_run_id, d.reason)):
        skipped.setdefault(run_id, {})[reason] = n
    rows = []
    for run_id, run in runs.items():
        sent, replied, pressed_, opted, done = (int(v or 0) for v in outcomes.get(run_id, (0, 0, 0, 0, 0)))
        reasons = dict(sorted(skipped.get(run_id, {}).items(), key=lambda kv: (-kv[1], kv[0])))
        rows.append({"campaign": run.campaign, "occurrence": run.occurrence, "run_id": run_id,
                     "due": run.due_at.astimezone(span.zone).isoformat(timespec="minutes"), "status": run.status,
                     "planned": run.planned, "sent": sent, "skipped": sum(reasons.values()),
                     "skipped_by_reason": reasons, "replied": replied, "pressed": pressed_, "opted_out": opted,
                     "flows_completed": done})  # fmt: skip
    return Report("campaigns", _figures(rows), None, {"occurrences": rows}, primary="occurrences")


def _figures(rows: list[Row]) -> Row:
    totals: Row = {"occurrences": len(rows)}
    for key in ("planned", "sent", "skipped", "replied", "pressed", "opted_out", "flows_completed"):
        totals[key] = sum(row[key] for row in rows)
    return totals
