"""The report pages over real HTTP, on SQLite and PostgreSQL, signed in as a viewer: the figures, the charts' values,
the drill-down from a number to its rows, the CSV downloads, the default range, and clear errors for bad filters.
The data and its right answers are in report_fixture.py."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from html import escape, unescape
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio

from bot.reports import REPORTS
from tests.handlers.admin.report_fixture import NPS_CSV, NPS_PERIODS, RANGE, report_site
from tests.handlers.admin.support import sign_in

QUERY = urlencode(RANGE)


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])  # fmt: skip
async def http(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """One seeded app per database for the whole module (the pages only read), signed in as a viewer."""
    async with report_site(request, tmp_path_factory.mktemp("reports"), request.param) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            await sign_in(client, "vic")
            yield client


def link(report: str, **filters: str) -> str:
    """The drill-down link as the page writes it (HTML-escaped)."""
    return escape(f"/admin/reports/{report}/rows?" + urlencode({**RANGE, **filters}))


def drill_rows(html: str) -> list[list[str]]:
    """The drill-down table's cells, row by row."""
    body = html.split('<table class="list compact drill">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def drill_names(html: str) -> list[str]:
    head = html.split('<table class="list compact drill">', 1)[1].split("</thead>", 1)[0]
    return re.findall(r"<th(?: [^>]*)?>(.*?)</th>", head)


async def test_every_report_has_a_page_a_viewer_reaches_from_the_navigation(http: httpx.AsyncClient) -> None:
    flows = await http.get("/admin/flows")
    assert '<a href="/admin/reports">Reports</a>' in flows.text
    index = await http.get("/admin/reports")
    assert index.status_code == 200
    for name in REPORTS:
        assert f'id="report-{name}"' in index.text
        page = await http.get(f"/admin/reports/{name}?{QUERY}")
        assert page.status_code == 200, name
        assert 'aria-current="page">Reports</a>' in page.text


async def test_nps_page_shows_the_figures_and_the_trend_drawn_with_its_values(http: httpx.AsyncClient) -> None:
    page = (await http.get(f"/admin/reports/nps?{QUERY}")).text
    figures = dict(re.findall(r"<dt>(.*?)</dt><dd>(?:<a [^>]*>)?(.*?)(?:</a>)?</dd>", page))
    assert {k: figures[k] for k in ("nps", "responses", "promoters", "passives", "detractors")} == {
        "nps": "0.0", "responses": "5", "promoters": "2", "passives": "1", "detractors": "2"}  # fmt: skip
    chart = page.split('<svg xmlns="http://www.w3.org/2000/svg" class="chart line"', 1)[1].split("</svg>", 1)[0]
    assert re.findall(r'data-x="([^"]+)" data-value="([^"]+)"', chart) == NPS_PERIODS
    assert "<title>2026-03-02: 66.7</title>" in chart
    # Its numbers also in a table under it, the periods', each linked to its answers:
    assert 'id="table-periods"' in page and 'href="#table-periods"' in page
    assert f'<a href="{link("nps", what="answers", kind="nps", period="2026-03-02", group="promoter")}">2</a>' in page


async def test_a_figure_leads_to_the_answers_behind_it(http: httpx.AsyncClient) -> None:
    page = (await http.get(f"/admin/reports/nps?{QUERY}")).text
    detractors = link("nps", what="answers", kind="nps", group="detractor")
    assert f'<a href="{detractors}" title="the rows behind this number">2</a>' in page
    rows = await http.get(unescape(detractors))
    assert rows.status_code == 200
    names = drill_names(rows.text)
    picked = [(r[names.index("score")], r[names.index("comment")]) for r in drill_rows(rows.text)]
    assert picked == [("6", "-"), ("3", "slow")]  # newest first; c4's earlier 10 is not counted
    week = await http.get(unescape(link("nps", what="answers", kind="nps", period="2026-03-02")))
    assert sorted(r[names.index("score")] for r in drill_rows(week.text)) == ["10", "7", "9"]


async def test_sla_figures_per_person_and_severity_lead_to_their_tickets(http: httpx.AsyncClient) -> None:
    page = (await http.get(f"/admin/reports/sla?{QUERY}")).text
    figures = dict(re.findall(r"<dt>(.*?)</dt><dd>(?:<a [^>]*>)?(.*?)(?:</a>)?</dd>", page))
    assert (figures["first response pct"], figures["resolution pct"], figures["breached tickets"]) == (
        "50.0", "33.3", "3")  # fmt: skip
    # Bars per person: first response met 50% for Ana, 100% for Rui, 0% for the unassigned ticket.
    bars = re.findall(r'class="bar" data-label="([^"]+)" data-value="([^"]+)"', page)
    assert ("Ana Lima, first response", "50") in bars and ("Rui Costa, first response", "100") in bars
    assert ("(unassigned), first response", "0") in bars
    unassigned = link("sla", what="tickets", staff="(unassigned)", missed="first_response")
    assert f'href="{unassigned}"' in page
    rows = await http.get(unescape(unassigned))
    names = drill_names(rows.text)
    assert [r[names.index("ref")] for r in drill_rows(rows.text)] == ["T4"]
    met = await http.get(unescape(link("sla", what="tickets", met="first_response")))
    assert [r[names.index("ref")] for r in drill_rows(met.text)] == ["T1", "T3"]
    high = await http.get(unescape(link("sla", what="tickets", severity="high", missed="resolution")))
    assert [r[names.index("ref")] for r in drill_rows(high.text)] == ["T1"]


async def test_complaints_and_churn_lead_to_tickets_and_cancellations(http: httpx.AsyncClient) -> None:
    page = (await http.get(f"/admin/reports/complaints?{QUERY}")).text
    bars = re.findall(r'class="bar" data-label="([^"]+)" data-value="([^"]+)"', page)
    assert bars == [("delivery", "2"), ("billing", "1")]
    reopened = await http.get(unescape(link("complaints", what="tickets", kind="complaint", reopened="1")))
    names = drill_names(reopened.text)
    assert [r[names.index("ref")] for r in drill_rows(reopened.text)] == ["T2"]
    churn = (await http.get(f"/admin/reports/churn?{QUERY}")).text
    assert re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', churn.split("by reason", 1)[1])[:3] == [
        ("not_using", "1"), ("price", "1"), ("unknown", "1")]  # fmt: skip
    back = await http.get(unescape(link("churn", what="cancellations", won_back_within="30")))
    names = drill_names(back.text)
    assert [r[names.index("reason")] for r in drill_rows(back.text)] == ["price"]
    standard = await http.get(unescape(link("churn", what="cancellations", customer_tier="standard")))
    assert sorted(r[names.index("reason")] for r in drill_rows(standard.text)) == ["not_using", "unknown"]


async def test_each_flows_funnel_is_drawn_on_its_graph(http: httpx.AsyncClient) -> None:
    page = (await http.get(f"/admin/reports/flows?{QUERY}")).text
    graph = page.split('aria-label="flow nps"', 1)[1].split("</svg>", 1)[0]
    notes = {}
    for node in graph.split("<a ")[1:]:  # one per step
        note = re.search(r'class="node-note[^"]*"[^>]*>([^<]+)<', node)
        if note:
            notes[re.search(r'data-step="(\d+)"', node).group(1)] = note.group(1)  # type: ignore[union-attr]
    assert notes == {"0": "reached 4 · answered 3 · dropped 1", "2": "reached 3 · answered 1 · dropped 1"}
    # A step leads to the runs that reached it:
    step = escape(f"/admin/reports/flows/rows?{QUERY}&what=runs&flow=nps&state=reached&step_index=2")
    assert f'<a href="{step}" class="node ask" data-step="2">' in graph


async def test_flow_steps_campaign_results_and_cohorts_lead_to_their_runs_and_customers(
    http: httpx.AsyncClient,
) -> None:
    flows = (await http.get(f"/admin/reports/flows?{QUERY}")).text
    dropped = link("flows", what="runs", flow="nps", step_index="0", state="dropped")
    assert f'<a href="{dropped}">1</a>' in flows
    runs = await http.get(unescape(dropped))
    names = drill_names(runs.text)
    assert [(r[names.index("customer id")], r[names.index("status")]) for r in drill_rows(runs.text)] == [
        ("5", "active")]  # fmt: skip
    gone = await http.get(unescape(link("flows", what="runs", flow="nps", step_index="2", state="dropped")))
    assert [r[names.index("customer id")] for r in drill_rows(gone.text)] == ["3"]
    reached = await http.get(unescape(link("flows", what="runs", flow="nps", step_index="0", state="reached")))
    assert sorted(r[names.index("customer id")] for r in drill_rows(reached.text)) == ["2", "3", "4", "5"]

    campaigns = (await http.get(f"/admin/reports/campaigns?{QUERY}")).text
    bars = dict(re.findall(r'class="bar" data-label="spring · standard@2026-03-09, ([^"]+)" data-value="([^"]+)"',
                           campaigns))  # fmt: skip
    assert bars == {"planned": "3", "sent": "2", "skipped": "1", "replied": "1", "pressed a button": "1",
                    "opted out": "0", "flows completed": "0"}  # fmt: skip
    run_id = re.search(r"run=(\d+)", campaigns).group(1)  # type: ignore[union-attr]
    sent = await http.get(unescape(link("campaigns", what="deliveries", run=run_id, decision="sent")))
    names = drill_names(sent.text)
    assert [r[names.index("customer id")] for r in drill_rows(sent.text)] == ["1", "2"]
    pressed = await http.get(unescape(link("campaigns", what="deliveries", run=run_id, outcome="pressed")))
    assert [r[names.index("customer id")] for r in drill_rows(pressed.text)] == ["1"]
    skipped = await http.get(unescape(link("campaigns", what="deliveries", run=run_id, decision="skipped")))
    assert [(r[names.index("customer id")], r[names.index("reason")]) for r in drill_rows(skipped.text)] == [
        ("3", "opted out")]  # fmt: skip

    retention = (await http.get(f"/admin/reports/retention?{QUERY}")).text
    active = link("retention", what="customers", cohort="2026-03", month="0")
    assert f'<a href="{active}">1</a>' in retention  # the cohort's customers active in its first month
    assert f'<a href="{active}"' in retention.split('class="chart line"', 1)[1]  # the chart's point too
    customers = await http.get(unescape(active))
    assert customers.status_code == 200, customers.text[-1500:]
    names = drill_names(customers.text)
    assert [r[names.index("customer id")] for r in drill_rows(customers.text)] == ["7"]


async def test_each_report_and_each_drill_down_downloads_as_csv(http: httpx.AsyncClient) -> None:
    answer = await http.get(f"/admin/reports/nps?{QUERY}&format=csv&list=periods")
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="nps-periods-2026-02-15_2026-03-20.csv"' in answer.headers["content-disposition"]
    assert answer.text == NPS_CSV  # the same text as `engagebot reports nps --format csv --list periods`
    for name in REPORTS:
        assert (await http.get(f"/admin/reports/{name}?{QUERY}&format=csv")).status_code == 200, name
    twin = (await http.get(f"/admin/reports/nps?{QUERY}&format=json")).json()  # the --format json document
    assert (twin["report"], twin["nps"], twin["responses"], twin["since"], twin["by"]) == (
        "nps", 0.0, 5, "2026-02-15", "week")  # fmt: skip
    tickets = await http.get(unescape(link("sla", what="tickets", missed="any")) + "&format=csv")
    rows = list(csv.DictReader(io.StringIO(tickets.text)))
    assert [(r["ref"], r["missed"]) for r in rows] == [
        ("T1", "resolution"), ("T2", "first_response"), ("T4", "first_response; resolution")]  # fmt: skip


async def test_the_tier_filter_counts_only_that_tiers_customers(http: httpx.AsyncClient) -> None:
    page = (await http.get(f"/admin/reports/nps?{QUERY}&tier=gold")).text
    figures = dict(re.findall(r"<dt>(.*?)</dt><dd>(?:<a [^>]*>)?(.*?)(?:</a>)?</dd>", page))
    assert (figures["nps"], figures["responses"]) == ("100.0", "1")  # only c1, gold, a 10
    assert 'name="tier" value="gold"' in page and "tier gold" in page
    promoters = link("nps", what="answers", kind="nps", group="promoter").replace("by=week", "by=week&amp;tier=gold")
    rows = await http.get(unescape(promoters))
    assert len(drill_rows(rows.text)) == 1  # the drill-down keeps the tier


async def test_the_range_defaults_to_the_last_90_days_by_week_in_the_business_time_zone(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get("/admin/reports/nps")).text
    # Today is 20 March in New York; 90 days up to it start on 21 December.
    assert 'name="since" value="2025-12-21"' in page and 'name="until" value="2026-03-20"' in page
    assert "<option selected>week</option>" in page
    assert "2025-12-21 to 2026-03-20, by week, America/New_York" in page


BAD = [
    ("/admin/reports/nps?since=yesterday", 400, "From must be a date like 2026-03-01"),
    ("/admin/reports/nps?since=2026-03-10&until=2026-03-01", 400, "is after To"),
    ("/admin/reports/nps?by=year", 400, "Trend by day, week or month"),
    ("/admin/reports/revenue", 404, "There is no report"),
    ("/admin/reports/nps?format=csv&list=customers", 400, "nps has no list"),
    ("/admin/reports/nps/rows?what=invoices", 400, "Choose a figure on the report"),
    ("/admin/reports/nps/rows?what=answers&kind=nps&colour=red", 400, "cannot be filtered by"),
    ("/admin/reports/nps/rows?what=answers&kind=nps&group=fans", 400, "group must be one of"),
    ("/admin/reports/nps/rows?what=answers", 400, "Answers need a kind"),
    ("/admin/reports/nps/rows?what=answers&kind=nps&page=0", 400, "page must be a number"),
    ("/admin/reports/retention/rows?what=customers&cohort=March", 400, "a cohort is a month like 2026-03"),
    ("/admin/reports/churn/rows?what=cancellations&won_back_within=45", 400, "won_back_within must be one of 30, 90"),
]


async def test_bad_filters_get_a_clear_answer_and_the_console_goes_on(http: httpx.AsyncClient) -> None:
    for path, status, message in BAD:
        answer = await http.get(path)
        assert (answer.status_code, message in unescape(answer.text)) == (status, True), path
    assert (await http.get(f"/admin/reports/nps?{QUERY}")).status_code == 200


async def test_drill_down_pages_through_the_rows(http: httpx.AsyncClient) -> None:
    first = await http.get(unescape(link("nps", what="answers", kind="nps")))
    assert "rows 1 to 5" in first.text and 'rel="next"' not in first.text
    empty = await http.get(unescape(link("nps", what="answers", kind="nps")) + "&page=3")
    assert empty.status_code == 200 and "No rows on this page" in empty.text
