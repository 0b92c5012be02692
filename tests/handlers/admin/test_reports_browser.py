"""The report pages in Chromium (the console browser tests' browser and sign-in), over one seeded app on PostgreSQL:
a chart shows the fixture's values, a click on a number lists its rows, the CSV downloads, and every report page
reads at phone width. With ENGAGEBOT_ADMIN_SCREENSHOTS set, the pages are saved for docs/reports.md."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from bot.reports import REPORTS
from tests.handlers.admin.report_fixture import NPS_CSV, NPS_PERIODS, RANGE, report_site
from tests.handlers.admin.test_console_browser import browser, done, shot, signed_in

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]
__all__ = ["browser"]  # the console tests' one Chromium per module
QUERY = urlencode(RANGE)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[object]:
    async with report_site(request, tmp_path_factory.mktemp("report-pages"), "postgresql") as url:
        yield SimpleNamespace(first=SimpleNamespace(url=url))  # what signed_in() reads


async def test_the_nps_chart_shows_the_fixtures_values(browser: Browser, site: object) -> None:
    page = await signed_in(browser, site, "vic")  # type: ignore[arg-type]
    await page.click("nav.sections a:has-text('Reports')")
    await page.wait_for_url("**/admin/reports")
    await shot(page, "reports.png")
    await page.goto(f"{site.first.url}/admin/reports/nps?{QUERY}")  # type: ignore[attr-defined]
    points = page.locator("svg.chart.line .point")
    await points.first.wait_for()
    shown = [(await p.get_attribute("data-x"), await p.get_attribute("data-value")) for p in await points.all()]
    assert shown == NPS_PERIODS
    titles = [await p.locator("title").text_content() for p in await points.all()]
    assert titles == [f"{x}: {v}" for x, v in NPS_PERIODS]  # the value on hover
    printed = await page.locator("svg.chart.line .point text.value").all_text_contents()
    assert printed == [v for _x, v in NPS_PERIODS]
    box = await page.locator("svg.chart.line").bounding_box()
    assert box is not None and box["width"] > 300
    await shot(page, "report-nps.png")
    await done(page)


async def test_click_a_number_to_see_the_rows_behind_it(browser: Browser, site: object) -> None:
    page = await signed_in(browser, site, "vic")  # type: ignore[arg-type]
    await page.goto(f"{site.first.url}/admin/reports/nps?{QUERY}")  # type: ignore[attr-defined]
    await page.click(".figure:has(dt:text-is('detractors')) dd a")
    await page.wait_for_url("**/admin/reports/nps/rows?**")
    await page.locator("table.drill").wait_for()
    headers = await page.locator("table.drill th").all_text_contents()
    scores = await page.locator(f"table.drill tbody td:nth-child({headers.index('score') + 1})").all_text_contents()
    assert scores == ["6", "3"]
    assert "group detractor" in (await page.locator(".range").text_content() or "")
    await shot(page, "report-rows.png")
    # A bar leads to its rows too: SLA, the unassigned ticket that missed its first response.
    await page.goto(f"{site.first.url}/admin/reports/sla?{QUERY}")  # type: ignore[attr-defined]
    await shot(page, "report-sla.png")
    await page.click("svg.chart a.bar[data-label='(unassigned), first response']")
    await page.wait_for_url("**/admin/reports/sla/rows?**")
    headers = await page.locator("table.drill th").all_text_contents()
    refs = await page.locator(f"table.drill tbody td:nth-child({headers.index('ref') + 1})").all_text_contents()
    assert refs == ["T4"]
    # And a step of a flow's funnel to the runs that reached it:
    await page.goto(f"{site.first.url}/admin/reports/flows?{QUERY}")  # type: ignore[attr-defined]
    await page.click("svg.flowgraph a.node[data-step='0']")
    await page.wait_for_url("**/admin/reports/flows/rows?**")
    assert await page.locator("table.drill tbody tr").count() == 4
    await done(page)


async def test_the_report_and_a_drill_down_download_as_csv(browser: Browser, site: object, tmp_path: Path) -> None:
    page = await signed_in(browser, site, "vic")  # type: ignore[arg-type]
    await page.goto(f"{site.first.url}/admin/reports/nps?{QUERY}")  # type: ignore[attr-defined]
    async with page.expect_download() as info:
        await page.click("a.button:has-text('Download CSV')")
    download = await info.value
    assert download.suggested_filename == "nps-periods-2026-02-15_2026-03-20.csv"
    await download.save_as(tmp_path / "nps.csv")
    assert (tmp_path / "nps.csv").read_text(encoding="utf-8") == NPS_CSV
    await page.click(".figure:has(dt:text-is('promoters')) dd a")
    await page.wait_for_url("**/rows?**")
    async with page.expect_download() as info:
        await page.click("a.button:has-text('Download CSV')")
    await (await info.value).save_as(tmp_path / "promoters.csv")
    lines = (tmp_path / "promoters.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "answer_id,at,customer_id,survey,score,comment,ticket_id"
    assert [line.split(",")[4] for line in lines[1:]] == ["9", "10"]
    await done(page)


@pytest.mark.parametrize("width", [1280, 390])
async def test_every_report_page_reads_at_desktop_and_phone_width(browser: Browser, site: object, width: int) -> None:
    page = await signed_in(browser, site, "vic", width=width)  # type: ignore[arg-type]
    phone = "-phone" if width < 600 else ""
    for name in REPORTS:
        answer = await page.goto(f"{site.first.url}/admin/reports/{name}?{QUERY}")  # type: ignore[attr-defined]
        assert answer is not None and answer.status == 200, name
        await page.locator("main h1").wait_for()
        scroll = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert scroll <= 1, f"{name} scrolls sideways at {width}px"
        if name in ("flows", "churn", "retention", "campaigns") or (phone and name in ("nps", "sla")):
            if phone:  # the first chart (or graph) in view, as a phone shows it
                await page.locator(".chart-card, .funnel").first.scroll_into_view_if_needed()
            await shot(page, f"report-{name}{phone}.png", full=not phone)
    await done(page)
