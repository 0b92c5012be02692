"""What each report's console page shows: its charts, and which figure of which list leads to which rows (the
drill-down filters bot/reports/drilldown.py takes). Data only, plus one small function per report for its charts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from bot.reports import Report, Row
from handlers.admin.charts import Bar, Series, bar_chart, line_chart

# (list name, row, column[, index in a list-valued cell]) -> the drill-down page's URL, or None when the figure has
# no rows behind it.
Linker = Callable[..., str | None]
INDEX = "{index}"


@dataclass(frozen=True)
class Drill:
    """How a list's figures lead to rows: `what` (answers, tickets, cancellations), filters every link carries,
    filters taken from the row (filter -> row key), and per linked column the filters it adds."""

    what: str
    fixed: Mapping[str, str] = field(default_factory=dict)
    from_row: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def filters(self, row: Row, column: str, index: int | None = None) -> dict[str, str] | None:
        """The drill-down's filters for one figure; `index` is the place of a figure in a list-valued cell
        (a cohort's active customers per month), put where a column's filter says "{index}"."""
        if column not in self.columns:
            return None
        taken = {name: row.get(key) for name, key in self.from_row.items()}
        if any(value is None for value in taken.values()):
            return None  # e.g. tickets without a severity: no filter selects exactly them
        extra = {k: v.replace(INDEX, str(index)) if index is not None else v for k, v in self.columns[column].items()}
        if index is None and any(INDEX in v for v in extra.values()):
            return None
        return {"what": self.what, **self.fixed, **{k: str(v) for k, v in taken.items()}, **extra}


@dataclass(frozen=True)
class Chart:
    heading: str
    drawing: Markup
    table: str  # the list whose table under the chart holds its numbers


@dataclass(frozen=True)
class ReportView:
    title: str
    about: str
    drills: Mapping[str, Drill]  # by list name; "figures" for the whole range's figures
    charts: Callable[[Report, Linker], list[Chart]]


def _periods(report: Report) -> Sequence[Row]:
    return report.rows("periods") if report.periods is not None else []


def _trend(
    report: Report, link: Linker, heading: str, key: str, unit: str = "", y_range: tuple[float, float] | None = None
) -> Chart:
    rows = _periods(report)
    by = report.span.get("by", "week")
    series = Series(heading, [r[key] for r in rows], [link("periods", r, key) for r in rows])
    drawing = line_chart(f"{heading} per {by}", [r["period"] for r in rows], [series], unit=unit, y_range=y_range)
    return Chart(f"{heading} per {by}", drawing, "periods")


def _bars(
    link: Linker, heading: str, rows: Sequence[Row], list_name: str, label: str, key: str, unit: str = "",
    max_value: float | None = None,
) -> Chart:  # fmt: skip
    bars = [Bar(str(r.get(label) or r.get("staff") or "-"), r[key], link(list_name, r, key)) for r in rows]
    return Chart(heading, bar_chart(heading, bars, unit=unit, max_value=max_value), list_name)


def _grouped(
    link: Linker, heading: str, rows: Sequence[Row], list_name: str, group: Callable[[Row], str],
    measures: Sequence[tuple[str, str]], unit: str = "", max_value: float | None = None,
) -> Chart:  # fmt: skip
    bars = [Bar(name, r[key], link(list_name, r, key), group(r)) for r in rows for key, name in measures]
    return Chart(heading, bar_chart(heading, bars, unit=unit, max_value=max_value), list_name)


NPS_COLUMNS = {"responses": {}, "nps": {}, "promoters": {"group": "promoter"}, "passives": {"group": "passive"},
               "detractors": {"group": "detractor"}, "promoters_pct": {"group": "promoter"},
               "detractors_pct": {"group": "detractor"}}  # fmt: skip
CSAT_COLUMNS = {"responses": {}, "csat": {}, "satisfied": {"group": "satisfied"}, "average": {}}
SLA_COLUMNS = {"tickets": {}, "first_response_met": {"met": "first_response"},
               "first_response_missed": {"missed": "first_response"}, "first_response_pct": {},
               "resolution_met": {"met": "resolution"}, "resolution_missed": {"missed": "resolution"},
               "resolution_pct": {}, "breached_tickets": {"missed": "any"}}  # fmt: skip
COMPLAINT_COLUMNS = {"tickets": {}, "avg_hours_to_first_response": {}, "avg_hours_to_resolution": {},
                     "reopened": {"reopened": "1"}, "reopen_rate": {"reopened": "1"}, "csat_after_resolution": {},
                     "csat_responses": {}, "share": {}}  # fmt: skip
CHURN_COLUMNS = {"cancellations": {}, "won_back_30d": {"won_back_within": "30"},
                 "win_back_30d_pct": {"won_back_within": "30"}, "won_back_90d": {"won_back_within": "90"},
                 "win_back_90d_pct": {"won_back_within": "90"}}  # fmt: skip

DELIVERY_COLUMNS = {"sent": {"decision": "sent"}, "skipped": {"decision": "skipped"}, "replied": {"outcome": "replied"},
                    "pressed": {"outcome": "pressed"}, "opted_out": {"outcome": "opted_out"},
                    "flows_completed": {"outcome": "completed_flow"}}  # fmt: skip
STEP_COLUMNS = {"reached": {"state": "reached"}, "answered": {"state": "answered"}, "dropped": {"state": "dropped"},
                "drop_off_pct": {"state": "dropped"}}  # fmt: skip
COHORT_COLUMNS = {"customers": {}, "active": {"month": INDEX}, "active_pct": {"month": INDEX}}


def _nps_charts(report: Report, link: Linker) -> list[Chart]:
    f = report.figures
    groups = [Bar(name.capitalize(), f[name], link("figures", dict(f), name)) for name in
              ("promoters", "passives", "detractors")]  # fmt: skip
    return [_trend(report, link, "NPS", "nps", y_range=(-100, 100)),
            Chart("Answers by group", bar_chart("Answers by group", groups), "figures")]  # fmt: skip


def _csat_charts(report: Report, link: Linker) -> list[Chart]:
    people = report.rows("per_person")
    return [_trend(report, link, "CSAT", "csat", "%", (0, 100)),
            _bars(link, "CSAT per staff person", people, "per_person", "name", "csat", "%", 100)]  # fmt: skip


def _sla_charts(report: Report, link: Linker) -> list[Chart]:
    rows = _periods(report)
    by = report.span.get("by", "week")
    lines = [Series("first response", [r["first_response_pct"] for r in rows]),
             Series("resolution", [r["resolution_pct"] for r in rows])]  # fmt: skip
    trend = line_chart(f"SLA met per {by}", [r["period"] for r in rows], lines, unit="%", y_range=(0, 100))
    measures = (("first_response_pct", "first response"), ("resolution_pct", "resolution"))
    return [
        Chart(f"SLA met per {by}", trend, "periods"),
        _grouped(link, "SLA met per severity", report.rows("per_severity"), "per_severity",
                 lambda r: str(r["severity"] or "(none)"), measures, "%", 100),
        _grouped(link, "SLA met per person", report.rows("per_person"), "per_person",
                 lambda r: str(r["name"] or r["staff"]), measures, "%", 100),
    ]  # fmt: skip


def _complaint_charts(report: Report, link: Linker) -> list[Chart]:
    return [_trend(report, link, "Complaints", "tickets"),
            _bars(link, "Complaints per category", report.rows("categories"), "categories", "category",
                  "tickets")]  # fmt: skip


def _churn_charts(report: Report, link: Linker) -> list[Chart]:
    return [
        _trend(report, link, "Cancellations", "cancellations"),
        _bars(link, "Cancellations by reason", report.rows("by_reason"), "by_reason", "reason", "cancellations"),
        _bars(link, "Cancellations by tier", report.rows("by_tier"), "by_tier", "tier", "cancellations"),
        _bars(link, "Cancellations by tenure", report.rows("by_tenure"), "by_tenure", "tenure", "cancellations"),
    ]  # fmt: skip


CAMPAIGN_MEASURES = (("planned", "planned"), ("sent", "sent"), ("skipped", "skipped"), ("replied", "replied"),
                     ("pressed", "pressed a button"), ("opted_out", "opted out"),
                     ("flows_completed", "flows completed"))  # fmt: skip


def _campaign_charts(report: Report, link: Linker) -> list[Chart]:
    rows = report.rows("occurrences")
    return [_grouped(link, "Results per campaign occurrence", rows, "occurrences",
                     lambda r: f"{r['campaign']} · {r['occurrence']}", CAMPAIGN_MEASURES)]  # fmt: skip


def _crosssell_charts(report: Report, link: Linker) -> list[Chart]:
    rows = report.rows("by_rule")
    return [_trend(report, link, "Offers sent", "sent"),
            _bars(link, "Conversion per product", rows, "by_rule", "product", "conversion_pct", unit="%",
                  max_value=100)]  # fmt: skip


def _retention_charts(report: Report, link: Linker) -> list[Chart]:
    cohorts = list(report.rows("cohorts"))[-6:]  # the newest six; the table has them all
    months = max((len(c["active_pct"]) for c in cohorts), default=0)
    series = []
    for c in cohorts:
        shares = c["active_pct"]
        links = [link("cohorts", c, "active_pct", i) for i in range(len(shares))]
        series.append(Series(c["cohort"], [*shares, *[None] * (months - len(shares))], links))
    heading = "Active customers per signup cohort, by month since signup"
    drawing = line_chart(heading, [f"month {i}" for i in range(months)], series, unit="%", y_range=(0, 100))
    return [Chart(heading, drawing, "cohorts")]


def _no_charts(report: Report, link: Linker) -> list[Chart]:
    return []  # the flows page draws each flow's funnel on its graph instead


def _with_figures(drill: Drill, *lists: str) -> dict[str, Drill]:
    """The same drill for the whole range's figures (no row filter) and for each named list."""
    whole = Drill(drill.what, drill.fixed, {}, drill.columns)
    return {"figures": whole, **dict.fromkeys(lists, drill)}


def _per(drill: Drill, **from_row: str) -> Drill:
    return Drill(drill.what, drill.fixed, from_row, drill.columns)


_NPS = Drill("answers", {"kind": "nps"}, columns=NPS_COLUMNS)
_CSAT = Drill("answers", {"kind": "csat"}, columns=CSAT_COLUMNS)
_SLA = Drill("tickets", columns=SLA_COLUMNS)
_COMPLAINTS = Drill("tickets", {"kind": "complaint"}, columns=COMPLAINT_COLUMNS)
_CHURN = Drill("cancellations", columns=CHURN_COLUMNS)
_DELIVERIES = Drill("deliveries", columns=DELIVERY_COLUMNS)
_RUNS = Drill("runs", from_row={"flow": "flow", "step_index": "step_index"}, columns=STEP_COLUMNS)
_COHORT = Drill("customers", from_row={"cohort": "cohort"}, columns=COHORT_COLUMNS)

VIEWS: dict[str, ReportView] = {
    "nps": ReportView(
        "NPS", "Net Promoter Score: % promoters (9-10) minus % detractors (0-6), each customer's latest answer.",
        {**_with_figures(_NPS), "periods": _per(_NPS, period="period")}, _nps_charts,
    ),
    "csat": ReportView(
        "CSAT", "Satisfaction: % of answers of 4 or 5 out of 5, overall and per staff person (through the ticket).",
        {**_with_figures(_CSAT), "periods": _per(_CSAT, period="period"), "per_person": _per(_CSAT, staff="staff")},
        _csat_charts,
    ),
    "sla": ReportView(
        "SLA", "First response and resolution on time, for tickets opened in the range; a breach is a clock missed.",
        {**_with_figures(_SLA), "periods": _per(_SLA, period="period"),
         "per_severity": _per(_SLA, severity="severity"), "per_person": _per(_SLA, staff="staff")},
        _sla_charts,
    ),
    "complaints": ReportView(
        "Complaints", "Complaints opened in the range: volume and categories, time to answer, reopens, CSAT after.",
        {**_with_figures(_COMPLAINTS), "periods": _per(_COMPLAINTS, period="period"),
         "categories": _per(_COMPLAINTS, category="category")},
        _complaint_charts,
    ),
    "churn": ReportView(
        "Churn", "Cancellations by reason, tier and tenure, and how many came back within 30 and 90 days.",
        {**_with_figures(_CHURN), "periods": _per(_CHURN, period="period"), "by_reason": _per(_CHURN, reason="reason"),
         "by_tier": _per(_CHURN, customer_tier="tier"), "by_tenure": _per(_CHURN, tenure="tenure")},
        _churn_charts,
    ),
    "campaigns": ReportView(
        "Campaigns", "Per campaign occurrence: planned, sent, skipped, and what the customers reached did in 3 days.",
        {**_with_figures(_DELIVERIES), "occurrences": _per(_DELIVERIES, run="run_id")}, _campaign_charts,
    ),
    "flows": ReportView(
        "Flows", "Per flow and step: runs that reached it, answered it, and dropped off there.", {"steps": _RUNS},
        _no_charts,
    ),
    "crosssell": ReportView(
        "Cross-sell", "Per cross-sell rule: offers queued, sent, stopped before sending, and bought within 30 days.",
        {}, _crosssell_charts,
    ),
    "retention": ReportView(
        "Retention", "Customers by signup month (cohort), and the share of each active in every month since.",
        {"cohorts": _COHORT}, _retention_charts,
    ),
}  # fmt: skip


def drill_filters(
    view: ReportView, list_name: str, row: Row, column: str, index: int | None = None
) -> dict[str, Any] | None:
    drill = view.drills.get(list_name)
    return drill.filters(row, column, index) if drill else None
