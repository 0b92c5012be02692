"""The reports adapters call (the CLI, the console, the digest): one function per report, each one read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ports import Clock
from bot.reports import drilldown, drilldown_journeys
from bot.reports.campaigns import campaigns_report
from bot.reports.churn import churn_report
from bot.reports.crosssell import crosssell_report
from bot.reports.flows import flows_report
from bot.reports.result import Report, Row
from bot.reports.retention import retention_report
from bot.reports.scores import csat_report, nps_report
from bot.reports.span import ReportQuery, Span
from bot.reports.tickets import complaints_report, sla_report
from bot.storage.database import Database

WORK_MEM = "64MB"  # per sort, for this transaction only (the server's default is 4MB)
ReportFunction = Callable[[AsyncSession, Span], Awaitable[Report]]
REPORTS: dict[str, ReportFunction] = {
    "nps": nps_report,
    "csat": csat_report,
    "sla": sla_report,
    "complaints": complaints_report,
    "churn": churn_report,
    "campaigns": campaigns_report,
    "flows": flows_report,
    "retention": retention_report,
    "crosssell": crosssell_report,
}


# The rows behind a figure (bot/reports/drilldown.py), by what they are.
DRILL_DOWNS: dict[str, Callable[..., Awaitable[list[Row]]]] = {
    "answers": drilldown.answers,
    "tickets": drilldown.tickets,
    "cancellations": drilldown.cancellations,
    "runs": drilldown_journeys.step_runs,
    "deliveries": drilldown_journeys.deliveries,
    "customers": drilldown_journeys.cohort_customers,
}


class Reports:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    def span(self, query: ReportQuery) -> Span:
        return Span(query, self.settings.business.zone, self.db.dialect, self.clock.now())

    async def rows(self, what: str, query: ReportQuery, *args: Any, **filters: Any) -> list[Row]:
        """The rows behind a figure: `what` is answers (args: the kind, nps or csat), tickets, cancellations, runs
        (at a flow's step), deliveries (of a campaign) or customers (of a signup cohort); `filters` as the functions
        of drilldown.py and drilldown_journeys.py take them (period, group, staff, severity, reason, page...)."""
        span = self.span(query)
        async with self.db.sessions() as session:
            return await DRILL_DOWNS[what](session, span, *args, **filters)

    async def run(self, name: str, query: ReportQuery) -> Report:
        """The report `name` (one of REPORTS) for `query`; KeyError for an unknown name."""
        function = REPORTS[name]
        span = self.span(query)
        async with self.db.sessions() as session:
            if self.db.is_postgres:
                # A report sorts hundreds of thousands of rows once: in memory, not in temporary files.
                await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
            report = await function(session, span)
        until = query.until or span.now.astimezone(span.zone).date()
        described = {"since": query.since.isoformat() if query.since else None, "until": until.isoformat(),
                     "by": query.by, "tier": query.tier, "timezone": span.zone.key}  # fmt: skip
        return replace(report, span=described)
