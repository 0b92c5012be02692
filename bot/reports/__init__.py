"""Insights: every report computed in SQL in the database (NPS, CSAT per person, SLA, complaints, churn, campaigns,
flow drop-off, retention), and the weekly digest of them for the staff."""

from bot.reports.result import Report, Row
from bot.reports.service import REPORTS, Reports
from bot.reports.span import PERIODS, Period, ReportQuery

__all__ = ["PERIODS", "REPORTS", "Period", "Report", "ReportQuery", "Reports", "Row"]
