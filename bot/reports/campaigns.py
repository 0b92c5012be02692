"""The `campaigns` report: per campaign occurrence, what was planned, sent and skipped (by reason), and what the
customers it reached did within the attribution window: replies, button presses, opt-outs, flows completed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.conversations.models import DONE, ConversationRun
from bot.customers.models import Customer
from bot.outreach.models import SENT, SKIPPED, CampaignRun, DeliveryDecision
from bot.reports.result import Report, Row
from bot.reports.scores import with_tier
from bot.reports.span import Span
from bot.transcript.models import INBOUND, Message

ATTRIBUTION_DAYS = 3  # what a customer does within this long after a send counts for the campaign


def within_window(span: Span, sent_at: Any, column: Any) -> ColumnElement[bool]:
    """`column` within the attribution window after `sent_at` (bounds an index on `column` can use)."""
    return and_(column >= sent_at, column <= span.plus_days(sent_at, ATTRIBUTION_DAYS))


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
    # Joins, not a lookup per customer: each side is read once. A customer counts once however many messages.
    who = s.c.customer_id
    m = Message
    wrote = and_(m.direction == INBOUND, within_window(span, s.c.sent_at, m.created_at))
    pressed = and_(wrote, m.payload["choice"].as_string().is_not(None))
    activity_query = (
        select(s.c.run_id, func.count(func.distinct(who)), func.count(func.distinct(case((wrote, who)))),
               func.count(func.distinct(case((pressed, who)))),
               func.count(func.distinct(case((within_window(span, s.c.sent_at, Customer.opted_out_at), who)))))
        .select_from(s).join(Customer, Customer.id == who)
        .outerjoin(m, and_(m.customer_id == who, m.created_at >= s.c.sent_at,
                           m.created_at <= span.plus_days(s.c.sent_at, ATTRIBUTION_DAYS)))
        .group_by(s.c.run_id)
    )  # fmt: skip
    outcomes = {row[0]: [int(v or 0) for v in row[1:]] for row in await session.execute(activity_query)}
    c = ConversationRun
    completed_query = (
        select(s.c.run_id, func.count(func.distinct(who)))
        .select_from(s).join(r, r.id == s.c.run_id)
        .join(c, and_(c.customer_id == who, c.status == DONE, within_window(span, s.c.sent_at, c.started_at),
                      c.context[("trigger", "campaign")].as_string() == r.campaign))
        .group_by(s.c.run_id)
    )  # fmt: skip
    completed = dict((await session.execute(completed_query)).all())
    skipped: dict[int, dict[str, int]] = {}
    skip_query = with_tier(select(d.campaign_run_id, d.reason, func.count(func.distinct(d.customer_id)))
                           .where(d.decision == SKIPPED, d.campaign_run_id.in_(runs)), span, d.customer_id)  # fmt: skip
    for run_id, reason, n in await session.execute(skip_query.group_by(d.campaign_run_id, d.reason)):
        skipped.setdefault(run_id, {})[reason] = n
    rows = []
    for run_id, run in runs.items():
        sent, replied, pressed_, opted = outcomes.get(run_id, [0, 0, 0, 0])
        done = int(completed.get(run_id) or 0)
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
