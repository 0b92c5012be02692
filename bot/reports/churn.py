"""The `churn` report: cancellations (`cancelled` CRM events) by reason, tier and tenure, the win-back within 30 and
90 days, what the cancellation flow heard (requests, and customers who stayed), and the win-back sequences
(bot/retention/: save attempts, and how each sequence ended)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from bot.conversations.models import ConversationRun
from bot.customers.models import Customer, CustomerEvent
from bot.reports.result import Report, Row
from bot.reports.scores import count_if
from bot.reports.span import Span, percent
from bot.retention.models import OPTED_OUT, RUNNING, WON_BACK, Cancellation

CANCELLED = "cancelled"
CANCELLATION_FLOW = "cancellation"
# A customer is won back when one of these comes after their cancellation.
COMEBACK_EVENTS = ("activated", "reactivated", "signed_up", "purchased")
WIN_BACK_DAYS = (30, 90)
UNKNOWN = "unknown"
TENURES = ((30, "under 30 days"), (90, "30-89 days"), (180, "90-179 days"), (365, "180-364 days"))


def reason_of(event: Any) -> ColumnElement[str]:
    """The event's own `reason`, else what the customer chose in their latest cancellation flow before it."""
    said = (
        select(ConversationRun.answers["reason"].as_string())
        .where(ConversationRun.customer_id == event.customer_id, ConversationRun.flow_id == CANCELLATION_FLOW,
               ConversationRun.started_at <= event.occurred_at)
        .order_by(ConversationRun.started_at.desc(), ConversationRun.id.desc()).limit(1).scalar_subquery()
    )  # fmt: skip
    given = func.nullif(event.data["reason"].as_string(), "")
    return func.coalesce(given, said, literal(UNKNOWN))


def won_back(span: Span, event: Any, days: int) -> ColumnElement[bool]:
    later = aliased(CustomerEvent)
    return exists().where(
        later.customer_id == event.customer_id, later.name.in_(COMEBACK_EVENTS), later.occurred_at > event.occurred_at,
        span.days_between(event.occurred_at, later.occurred_at) <= days,
    )  # fmt: skip


def tenure_of(span: Span, event: Any) -> ColumnElement[str]:
    days = span.days_between(Customer.created_at, event.occurred_at)
    return case(*[(days < limit, literal(label)) for limit, label in TENURES], else_=literal("365 days or more"))


def _figures(row: Any) -> Row:
    cancellations, *won = (int(v or 0) for v in row)
    figures: Row = {"cancellations": cancellations}
    for days, count in zip(WIN_BACK_DAYS, won, strict=True):
        figures[f"won_back_{days}d"] = count
        figures[f"win_back_{days}d_pct"] = percent(count, cancellations)
    return figures


async def churn_report(session: AsyncSession, span: Span) -> Report:
    e = aliased(CustomerEvent, name="e")
    counts = [func.count(), *(count_if(won_back(span, e, days)) for days in WIN_BACK_DAYS)]
    reason, tenure = reason_of(e), tenure_of(span, e)

    def cancellations(*columns: Any) -> Any:
        query = (select(*columns).select_from(e).join(Customer, Customer.id == e.customer_id)
                 .where(e.name == CANCELLED, span.within(e.occurred_at)))  # fmt: skip
        return query if span.query.tier is None else query.where(Customer.tier == span.query.tier)

    async def grouped(label: str, column: Any) -> list[Row]:
        rows = await session.execute(cancellations(column.label(label), *counts).group_by(label))
        return sorted(({label: row[0], **_figures(row[1:])} for row in rows),
                      key=lambda r: (-r["cancellations"], str(r[label])))  # fmt: skip

    whole = _figures((await session.execute(cancellations(*counts))).one())
    period = span.label(span.bucket(e.occurred_at))
    periods = [
        {"period": row[0], **_figures(row[1:]), "reasons": {}}
        for row in await session.execute(cancellations(period.label("p"), *counts).group_by("p").order_by("p"))
    ]
    by_period = {row["period"]: row for row in periods}
    reasons_query = cancellations(period.label("p"), reason.label("r"), func.count()).group_by("p", "r")
    for when, why, n in await session.execute(reasons_query.order_by("p", func.count().desc())):
        by_period[when]["reasons"][why] = n
    tables = {
        "by_reason": await grouped("reason", reason),
        "by_tier": await grouped("tier", Customer.tier),
        "by_tenure": await grouped("tenure", tenure),
        "flow_requests": await _flow_requests(session, span),
        "win_back": await _sequences(session, span),
    }
    return Report("churn", {**whole, **_sequence_figures(tables["win_back"])}, periods, tables, primary="by_reason")


async def _sequences(session: AsyncSession, span: Span) -> list[Row]:
    """The win-back sequences of the cancellations in the range, per reason: save attempts (a retention ticket) and
    how the sequences ended (won back, opted out, still running, finished without a comeback)."""
    c = Cancellation
    query = (select(c.reason, func.count(), count_if(c.ticket_id.is_not(None)), count_if(c.status == WON_BACK),
                    count_if(c.status == OPTED_OUT), count_if(c.status == RUNNING))
             .join(Customer, Customer.id == c.customer_id)
             .where(span.within(c.cancelled_at)).group_by(c.reason))  # fmt: skip
    if span.query.tier is not None:
        query = query.where(Customer.tier == span.query.tier)
    rows = [{"reason": reason, "sequences": n, "save_attempts": saves, "won_back": won, "opted_out": out,
             "running": running, "finished": n - won - out - running, "win_back_pct": percent(won, n)}
            for reason, n, saves, won, out, running in await session.execute(query)]  # fmt: skip
    return sorted(rows, key=lambda row: (-row["sequences"], row["reason"]))


def _sequence_figures(rows: list[Row]) -> Row:
    sequences, won = sum(r["sequences"] for r in rows), sum(r["won_back"] for r in rows)
    return {
        "win_back_sequences": sequences,
        "save_attempts": sum(r["save_attempts"] for r in rows),
        "won_back_by_sequence": won,
        "win_back_sequence_pct": percent(won, sequences),
    }


async def _flow_requests(session: AsyncSession, span: Span) -> list[Row]:
    """Cancellation flows started in the range, per reason chosen: who still wanted to cancel, who stayed."""
    r = ConversationRun
    reason = func.coalesce(r.answers["reason"].as_string(), literal(UNKNOWN)).label("reason")
    still = r.answers["still_cancel"].as_boolean()
    query = (select(reason, func.count(), count_if(still.is_(True)), count_if(still.is_(False)))
             .join(Customer, Customer.id == r.customer_id)
             .where(r.flow_id == CANCELLATION_FLOW, span.within(r.started_at)).group_by("reason"))  # fmt: skip
    if span.query.tier is not None:
        query = query.where(Customer.tier == span.query.tier)
    rows = [{"reason": row[0], "started": row[1], "still_cancel": row[2], "stayed": row[3]}
            for row in await session.execute(query)]  # fmt: skip
    return sorted(rows, key=lambda row: (-row["started"], row["reason"]))
