"""The `crosssell` report: per cross-sell rule, the offers queued, sent and stopped before sending (a ticket opened,
the customer complained or bought it meanwhile), and their conversion: a `purchased` event of the offered product
within 30 days of the offer."""

from __future__ import annotations

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.customers.models import Customer, CustomerEvent
from bot.reports.result import Report, Row
from bot.reports.scores import count_if
from bot.reports.span import Span, percent
from bot.retention.facts import PRODUCT, PURCHASED
from bot.retention.models import CrosssellOffer

CONVERSION_DAYS = 30


def _figures(queued: int, sent: int, stopped: int, converted: int) -> Row:
    return {"offers": queued, "sent": sent, "stopped": stopped, "converted": converted,
            "conversion_pct": percent(converted, sent)}  # fmt: skip


async def crosssell_report(session: AsyncSession, span: Span) -> Report:
    o, e = CrosssellOffer, CustomerEvent
    converted = exists().where(
        e.customer_id == o.customer_id, e.name == PURCHASED, e.data[PRODUCT].as_string() == o.product,
        e.occurred_at >= o.sent_at, span.days_between(o.sent_at, e.occurred_at) <= CONVERSION_DAYS,
    )  # fmt: skip
    counts = (func.count(), count_if(o.sent_at.is_not(None)), count_if(o.stopped.is_not(None)),
              count_if(and_(o.sent_at.is_not(None), converted)))  # fmt: skip

    def offers(*columns: object):  # type: ignore[no-untyped-def]
        query = select(*columns).select_from(o).join(Customer, Customer.id == o.customer_id)
        query = query.where(span.within(o.queued_at))
        return query if span.query.tier is None else query.where(Customer.tier == span.query.tier)

    whole = _figures(*(int(v or 0) for v in (await session.execute(offers(*counts))).one()))
    by_rule = [
        {"rule": rule, "product": product, **_figures(*(int(v or 0) for v in figures))}
        for rule, product, *figures in await session.execute(
            offers(o.rule, o.product, *counts).group_by(o.rule, o.product).order_by(o.rule, o.product)
        )
    ]
    period = span.label(span.bucket(o.queued_at))
    periods = [
        {"period": p, **_figures(*(int(v or 0) for v in figures))}
        for p, *figures in await session.execute(offers(period.label("p"), *counts).group_by("p").order_by("p"))
    ]
    return Report("crosssell", whole, periods, {"by_rule": by_rule}, primary="by_rule")
