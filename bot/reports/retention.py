"""The `retention` report: customers grouped by the month they became known (their cohort), and how many of each
cohort were active in each month since."""

from __future__ import annotations

from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.customers.models import Customer, CustomerEvent
from bot.reports.result import Report, Row
from bot.reports.span import Span, percent
from bot.transcript.models import INBOUND, Message


async def retention_report(session: AsyncSession, span: Span) -> Report:
    """Active in a month: wrote to the bot (any inbound message) or had a CRM event in it."""
    month_of_message, month_of_event = (
        span.bucket(Message.created_at, "month"),
        span.bucket(CustomerEvent.occurred_at, "month"),
    )
    activity = union(
        select(Message.customer_id.label("customer_id"), month_of_message.label("month"))
        .where(Message.direction == INBOUND, span.within(Message.created_at)),
        select(CustomerEvent.customer_id.label("customer_id"), month_of_event.label("month"))
        .where(span.within(CustomerEvent.occurred_at)),
    ).subquery("activity")  # union: one row per customer and month  # fmt: skip
    cohort = span.bucket(Customer.created_at, "month")
    customers = select(Customer.id, cohort.label("cohort")).where(span.within(Customer.created_at))
    if span.query.tier is not None:
        customers = customers.where(Customer.tier == span.query.tier)
    c = customers.subquery("cohorts")
    sizes_query = select(span.label(c.c.cohort), func.count()).group_by(c.c.cohort)
    sizes = dict((await session.execute(sizes_query)).all())
    active_query = (select(span.label(c.c.cohort), span.label(activity.c.month), func.count())
                    .select_from(c).join(activity, activity.c.customer_id == c.c.id)
                    .where(activity.c.month >= c.c.cohort).group_by(c.c.cohort, activity.c.month))  # fmt: skip
    active: dict[str, dict[int, int]] = {}
    for when, month, n in await session.execute(active_query):
        active.setdefault(when, {})[_months_between(when, month)] = n
    rows: list[Row] = []
    for when in sorted(sizes):
        size = sizes[when]
        months = active.get(when, {})
        last = max(months, default=0)
        rows.append({"cohort": when[:7], "customers": size,
                     "active": [months.get(i, 0) for i in range(last + 1)],
                     "active_pct": [percent(months.get(i, 0), size) for i in range(last + 1)]})  # fmt: skip
    figures = {"cohorts": len(rows), "customers": sum(sizes.values()),
               "active_in_last_month": sum(_last_month_active(span, active).values())}  # fmt: skip
    return Report("retention", figures, None, {"cohorts": rows}, primary="cohorts")


def _months_between(first: str, later: str) -> int:
    return (int(later[:4]) - int(first[:4])) * 12 + int(later[5:7]) - int(first[5:7])


def _last_month_active(span: Span, active: dict[str, dict[int, int]]) -> dict[str, int]:
    """Per cohort, its customers active in the range's last month."""
    end_month = (span.end - span.end.resolution).astimezone(span.zone).strftime("%Y-%m-01")
    return {when: months.get(_months_between(when, end_month), 0) for when, months in active.items()}
