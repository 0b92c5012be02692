"""The reports (bot/reports/) in the console: /admin/reports, a page per report with its charts and tables, the rows
behind every figure (drill-down, paged), and CSV downloads of both. Read-only: every role may see them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.admin.accounts import Role, SignedIn
from bot.admin.flowgraph import Note, svg
from bot.outreach.models import SENT, SKIPPED
from bot.reports import PERIODS, REPORTS, Report, ReportQuery, Row
from bot.reports.churn import WIN_BACK_DAYS
from bot.reports.drilldown import MAX_ROWS, SCORE_GROUPS, Page
from bot.reports.drilldown_journeys import OUTCOMES
from handlers.admin.context import AdminContext
from handlers.admin.report_views import VIEWS, ReportView, drill_filters
from handlers.report_csv import cell, columns, to_csv

DEFAULT_DAYS = 90
PAGE_ROWS = 50
TABLE_ROWS = 100  # a long list (comments, breaches) shows this many; the CSV has them all
CLOCKS = ("first_response", "resolution", "any")


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return value

    return check


def _flag(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError("0 or 1")
    return value == "1"


def _count(value: str) -> int:
    if not value.isdigit():
        raise ValueError("a whole number from 0 on")
    return int(value)


def _days(value: str) -> int:
    return int(_choice(*(str(days) for days in WIN_BACK_DAYS))(value))


# The rows a figure stands for, and the filters each kind takes: URL parameter -> (keyword, parser).
# Cancellations name their tier `customer_tier`: `tier` is the page's own filter (the customers of the whole report).
DRILL_KINDS: dict[str, tuple[str, Mapping[str, tuple[str, Callable[[str], Any]]]]] = {
    "answers": ("Answers", {"kind": ("kind", _choice("nps", "csat")), "period": ("period", str),
                            "group": ("group", _choice(*SCORE_GROUPS)), "staff": ("staff", str)}),
    "tickets": ("Tickets", {"kind": ("kind", str), "period": ("period", str), "severity": ("severity", str),
                            "category": ("category", str), "staff": ("staff", str),
                            "missed": ("missed", _choice(*CLOCKS)), "met": ("met", _choice(*CLOCKS)),
                            "reopened": ("reopened", _flag)}),
    "cancellations": ("Cancellations", {"reason": ("reason", str), "customer_tier": ("tier", str),
                                        "period": ("period", str), "tenure": ("tenure", str),
                                        "won_back_within": ("won_back_within", _days)}),
    "runs": ("Conversation runs", {"flow": ("flow", str), "step_index": ("step_index", _count),
                                   "state": ("state", _choice("reached", "answered", "dropped"))}),
    "deliveries": ("Customers", {"run": ("run", _count), "decision": ("decision", _choice(SENT, SKIPPED)),
                                 "reason": ("reason", str), "outcome": ("outcome", _choice(*OUTCOMES))}),
    "customers": ("Customers", {"cohort": ("cohort", str), "month": ("month", _count)}),
}  # fmt: skip


class BadRequest(ValueError):
    """A filter the user typed or edited in the URL that we cannot answer: shown on the page, with status 400."""


def _date(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2026-03-01, not {text!r}.") from None


def parse_query(params: Mapping[str, str], today: date) -> tuple[ReportQuery, dict[str, str]]:
    """The GET form's since/until/by/tier; missing dates default to the last 90 days up to today (business time
    zone). Returns the query and the form's values as they are linked (every default made explicit)."""
    since = _date(params.get("since", "").strip(), "From")
    until = _date(params.get("until", "").strip(), "To")
    by = params.get("by", "week") or "week"
    if by not in PERIODS:
        raise BadRequest(f"Trend by day, week or month, not {by!r}.")
    until = until or today
    since = since or min(until, today) - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise BadRequest(f"From ({since}) is after To ({until}).")
    tier = params.get("tier", "").strip() or None
    form = {"since": since.isoformat(), "until": until.isoformat(), "by": by, **({"tier": tier} if tier else {})}
    return ReportQuery(since, until, by, tier), form  # type: ignore[arg-type]


def _attachment(body: str, filename: str) -> Response:
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def routes(ctx: AdminContext) -> list[Route]:
    core, render = ctx.core, ctx.render
    zone = core.settings.business.zone

    def today() -> date:
        return core.clock.now().astimezone(zone).date()

    def page(request: Request, who: SignedIn, template: str, status: int = 200, **values: Any) -> Response:
        return render.page(request, who, template, status=status, section="reports", **values)

    def form_or_error(request: Request) -> tuple[ReportQuery | None, dict[str, str], str | None]:
        params = dict(request.query_params)
        try:
            query, form = parse_query(params, today())
        except BadRequest as exc:
            return None, {k: params.get(k, "") for k in ("since", "until", "by", "tier")}, str(exc)
        return query, form, None

    def link(name: str, form: Mapping[str, str], **extra: str) -> str:
        return f"/admin/reports/{name}?" + urlencode({**form, **extra})

    async def index(request: Request, who: SignedIn) -> Response:
        _query, form, error = form_or_error(request)
        reports = [(name, VIEWS[name], link(name, form if not error else {})) for name in REPORTS]
        return page(request, who, "reports.html", title="Reports", reports=reports, form=form, error=error)

    async def report_page(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        view = VIEWS.get(name)
        if name not in REPORTS or view is None:
            return page(request, who, "message.html", 404, title="No such report",
                        message=f"There is no report {name!r}. The reports are: {', '.join(REPORTS)}.")  # fmt: skip
        query, form, error = form_or_error(request)
        if query is None:
            return page(request, who, "report.html", 400, title=view.title, name=name, view=view, form=form,
                        error=error, periods=PERIODS)  # fmt: skip
        report = await core.reports.run(name, query)
        fmt = request.query_params.get("format")
        if fmt == "json":
            return JSONResponse(report.as_json())
        if fmt == "csv":
            which = request.query_params.get("list") or report.primary
            if which not in report.lists:
                return page(request, who, "message.html", 400, title="No such list",
                            message=f"{name} has no list {which!r}; it has: {', '.join(report.lists)}.")  # fmt: skip
            span = f"{form['since']}_{form['until']}"
            return _attachment(to_csv(report.rows(which)), f"{name}-{which}-{span}.csv")

        def drill(list_name: str, row: Row, column: str, index: int | None = None) -> str | None:
            filters = drill_filters(view, list_name, row, column, index)
            if filters is None:
                return None
            return f"/admin/reports/{name}/rows?" + urlencode({**form, **filters})

        return page(request, who, "report.html", title=view.title, name=name, view=view, form=form,
                    periods=PERIODS, report=report, charts=view.charts(report, drill),
                    figures=_figures(report, drill), tables=_tables(report, drill, name, form, link),
                    funnels=_funnels(report, form) if name == "flows" else [])  # fmt: skip

    def _funnels(report: Report, form: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """Each flow of the report drawn as its graph, every step annotated with its runs and linked to them (the
        flow as it is now: steps are matched by their place in the flow)."""
        by_flow: dict[str, dict[int, Row]] = {}
        for row in report.rows("steps"):
            by_flow.setdefault(row["flow"], {})[row["step_index"]] = row
        drawn = []
        for flow_id, steps in by_flow.items():
            lf = core.registry.current(flow_id)
            if lf is None:
                continue  # a flow removed since: its numbers stay in the table
            notes = {i: _step_note(row) for i, row in steps.items() if i < len(lf.flow.steps)}
            runs = urlencode({**form, "what": "runs", "flow": flow_id, "state": "reached"})
            drawing = svg(lf, link=f"/admin/reports/flows/rows?{runs}&step_index={{index}}", notes=notes)
            drawn.append((flow_id, lf.flow.title or flow_id, drawing))
        return drawn

    async def rows_page(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        params = request.query_params
        view = VIEWS.get(name)
        query, form, error = form_or_error(request)
        title = f"{view.title if view else name}: rows"
        shown: list[tuple[str, str]] = []
        what, args, filters = "", (), {}
        if view is None or name not in REPORTS:
            error = f"There is no report {name!r}."
        elif error is None:
            try:
                what, args, filters, shown = parse_drill(params)
            except BadRequest as exc:
                error = str(exc)
            else:
                title = f"{view.title}: {DRILL_KINDS[what][0].lower()}"
        number = params.get("page", "1")
        if error is None and (not number.isdigit() or int(number) < 1):
            error = f"page must be a number from 1 on, not {number!r}."
        if error is not None or query is None:
            return page(request, who, "report_rows.html", 400, title=title, name=name, error=error, form=form,
                        rows=[], names=[], shown=shown)  # fmt: skip
        n = int(number)
        try:
            if params.get("format") == "csv":
                everything: list[Row] = []
                while True:  # every row, a database page at a time
                    batch = await core.reports.rows(what, query, *args, **filters,
                                                    page=Page(MAX_ROWS, len(everything)))  # fmt: skip
                    everything += batch
                    if len(batch) < MAX_ROWS:
                        break
                filename = f"{name}-{what}-{form['since']}_{form['until']}.csv"
                return _attachment(to_csv(everything), filename)
            found = await core.reports.rows(what, query, *args, **filters,
                                            page=Page(PAGE_ROWS + 1, (n - 1) * PAGE_ROWS))  # fmt: skip
        except ValueError as exc:  # a filter the core refuses (a cohort that is not a month...)
            return page(request, who, "report_rows.html", 400, title=title, name=name, error=str(exc), form=form,
                        rows=[], names=[], shown=shown)  # fmt: skip
        more = len(found) > PAGE_ROWS
        found = found[:PAGE_ROWS]
        here = {k: v for k, v in params.items() if k not in ("page", "format")}
        return page(request, who, "report_rows.html", title=title, name=name, form=form, shown=shown,
                    rows=[[cell(r.get(c)) for c in columns(found)] for r in found], names=columns(found),
                    numeric=[_is_number(found[0].get(c)) if found else False for c in columns(found)],
                    first=(n - 1) * PAGE_ROWS + 1, page_number=n,
                    previous=f"?{urlencode({**here, 'page': n - 1})}" if n > 1 else None,
                    next=f"?{urlencode({**here, 'page': n + 1})}" if more else None,
                    csv=f"?{urlencode({**here, 'format': 'csv'})}",
                    back=link(name, form))  # fmt: skip

    return [
        ctx.route("/reports", Role.viewer, index),
        ctx.route("/reports/{name}", Role.viewer, report_page),
        ctx.route("/reports/{name}/rows", Role.viewer, rows_page),
    ]


def parse_drill(params: Mapping[str, str]) -> tuple[str, tuple[str, ...], dict[str, Any], list[tuple[str, str]]]:
    """A drill-down's `what` and filters from its URL: (what, positional args, keyword filters, the filters as shown
    on the page). BadRequest for an unknown kind, filter or value."""
    what = params.get("what", "")
    if what not in DRILL_KINDS:
        raise BadRequest(f"Rows of {what!r}? Choose a figure on the report's page.")
    label, allowed = DRILL_KINDS[what]
    filters: dict[str, Any] = {}
    shown: list[tuple[str, str]] = []
    for key, value in params.items():
        if key in ("since", "until", "by", "tier", "what", "page", "format"):
            continue  # the range, and the page itself
        if key not in allowed:
            raise BadRequest(f"{label} cannot be filtered by {key!r}.")
        keyword, parse = allowed[key]
        try:
            filters[keyword] = parse(value)
        except ValueError as exc:
            explained = str(exc).startswith(("one of", "a whole"))
            raise BadRequest(f"{key} must be {exc}." if explained else f"{key}: bad value {value!r}") from None
        shown.append((key.replace("_", " "), value))
    if what != "answers":
        return what, (), filters, shown
    if "kind" not in filters:
        raise BadRequest("Answers need a kind: nps or csat.")
    return what, (filters.pop("kind"),), filters, shown


def _step_note(row: Row) -> Note:
    parts = [f"reached {row['reached']}"]
    if row.get("answered") is not None:
        parts.append(f"answered {row['answered']}")
    parts.append(f"dropped {row['dropped']}")
    return Note(" · ".join(parts), warn=bool(row["dropped"]))


def _cell(which: str, row: Row, column: str, drill: Callable[..., str | None]) -> tuple[Any, ...]:
    value = row.get(column)
    items = None
    if isinstance(value, list) and all(_is_number(v) or v is None for v in value):
        items = [(cell(v), drill(which, row, column, i)) for i, v in enumerate(value)]
    return cell(value), drill(which, row, column), _is_number(value), items


def _figures(report: Report, drill: Callable[..., str | None]) -> list[tuple[str, str, str | None]]:
    """The whole range's figures as (name, value, link to its rows)."""
    figures = dict(report.figures)
    return [(key.replace("_", " "), cell(value), drill("figures", figures, key)) for key, value in figures.items()]


def _tables(
    report: Report, drill: Callable[..., str | None], name: str, form: Mapping[str, str],
    link: Callable[..., str],
) -> list[dict[str, Any]]:  # fmt: skip
    """Every list of the report as a table: column names, and per row the cells as (text, link, is a number, and
    for a list of figures its items as (text, link))."""
    tables = []
    for which in report.lists:
        rows = report.rows(which)
        names = columns(rows)
        shown = rows[:TABLE_ROWS]
        body = [[_cell(which, row, c, drill) for c in names] for row in shown]
        tables.append({"name": which, "title": which.replace("_", " ").capitalize(), "names": names, "rows": body,
                       "total": len(rows), "csv": link(name, form, format="csv", list=which)})  # fmt: skip
    return tables


__all__ = ["DRILL_KINDS", "ReportView", "parse_query", "routes"]
