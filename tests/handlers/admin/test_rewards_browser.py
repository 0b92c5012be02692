"""The reward pages in Chromium (the console browser tests' browser and sign-in) over the whole app on PostgreSQL:
an editor sees the empty pool's warning, uploads a CSV file and sees the count of codes left change with the import's
report, gives a code by hand, and both pages read at phone width. With ENGAGEBOT_ADMIN_SCREENSHOTS set, the pages are
saved for docs/admin.md."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from bot.core import Core
from bot.customers.models import Customer
from tests.conftest import STARTER_FLOWS, _create_pg_database, _drop_pg_database, make_settings
from tests.handlers.admin.support import add_account
from tests.handlers.admin.test_console_browser import browser, done, shot, signed_in
from tests.handlers.test_webchat import serving

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]
__all__ = ["browser"]  # the console tests' one Chromium per module
REWARDS = {"alert_channel": "#perks", "pools": {
    "sorry": {"title": "Apology voucher", "description": "10% off your next order", "alert_below": 3},
    "welcome": {"title": "Welcome gift", "description": "A free coffee", "template": "WELCOME-{random:8}"},
    "vip": {"title": "VIP surprise", "description": "A gift box for the top tier"},
}}  # fmt: skip
CAMPAIGNS = {"surprise_vip": {"title": "A thank-you for our best customers", "kind": "thank_you", "reward": "vip",
                              "message": "Thank you! {{ reward.code }} is yours."}}  # fmt: skip
UPLOAD = "code\nSORRY-A1\nSORRY-A2\nSORRY-A3\nSORRY-A1\nSORRY-OLD\n\u0007bell\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> AsyncIterator[object]:
    folder = tmp_path_factory.mktemp("reward-pages")
    name, url = await _create_pg_database(request.getfixturevalue("_postgres_template"))
    try:
        shutil.copytree(STARTER_FLOWS, folder / "flows")
        settings = make_settings(folder, url, folder / "flows", rewards=REWARDS, campaigns=CAMPAIGNS)
        core = Core(settings)
        await core.prepare_storage()
        try:
            async with core.db.transaction() as session:
                session.add_all([Customer(display_name="Rita Lima", external_id="C-1001"),
                                 Customer(display_name="Joe Brown", external_id="C-1002")])  # fmt: skip
            await core.rewards.import_codes("sorry", "SORRY-OLD\n")
            await core.rewards.give("sorry", 2, "ticket:T4", "maria")
            await core.rewards.give("welcome", 1, "flow:onboarding", "flow:onboarding")
        finally:
            await core.close()
        await add_account(settings, "ana", "editor")
        async with serving(settings) as base:
            yield SimpleNamespace(first=SimpleNamespace(url=base))  # what signed_in() reads
    finally:
        await _drop_pg_database(name)


async def figure(page: Page, name: str) -> str:
    return (await page.locator(f"dd[data-figure={name}]").text_content() or "").strip()


async def fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling at phone width."""
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_upload_a_csv_and_see_the_count_change(browser: Browser, site: object, tmp_path: Path) -> None:
    page = await signed_in(browser, site, "ana")  # type: ignore[arg-type]
    await page.click("nav.sections a:has-text('Rewards')")
    await page.wait_for_url("**/admin/rewards")
    warnings = [" ".join(w.split()) for w in await page.locator(".warning").all_text_contents()]
    assert [w.split(". ")[0] for w in warnings] == [
        "Apology voucher: the pool is empty",
        "VIP surprise: the pool is empty",
    ]
    await shot(page, "rewards.png")

    await page.click("a:has-text('Apology voucher')")
    await page.wait_for_url("**/admin/rewards/sorry")
    assert await figure(page, "left") == "0"
    assert "This pool is empty" in (await page.locator(".warning").text_content() or "")
    csv_file = tmp_path / "codes.csv"
    csv_file.write_text(UPLOAD, encoding="utf-8")
    await page.set_input_files("input[type=file]", str(csv_file))
    await page.click("button:has-text('Import')")
    await page.locator(".import-result").wait_for()
    report = " ".join((await page.locator(".import-result").text_content() or "").split())
    assert "3 codes added, 1 already in the pool, 1 repeated in the file, 1 invalid." in report
    assert "line 7: not a usable code" in report
    await shot(page, "reward-import.png")
    assert await figure(page, "left") == "3"
    assert await page.locator(".warning").count() == 0  # 3 left: not under the alert of 3

    await page.goto(f"{site.first.url}/admin/rewards/sorry")  # type: ignore[attr-defined]
    await page.fill("input[name=customer]", "ext:C-1001")
    await page.fill("input[name=reason]", "Parcel arrived damaged")
    await page.click("button:has-text('Give a code')")
    await page.wait_for_url("**/admin/rewards/sorry")
    assert "Gave SORRY-A1 to customer #1 (Rita Lima)" in (await page.locator(".flash").text_content() or "")
    assert await figure(page, "left") == "2" and await figure(page, "given") == "2"
    assert "Only 2 codes left" in (await page.locator(".warning").text_content() or "")
    first_row = " ".join((await page.locator("table.ledger tbody tr").first.text_content() or "").split())
    assert "SORRY-A1" in first_row and "Rita Lima" in first_row and "by hand: Parcel arrived damaged" in first_row
    await shot(page, "reward-pool.png")
    await page.goto(f"{site.first.url}/admin/rewards/welcome")  # type: ignore[attr-defined]
    assert (await page.locator(".example-code").text_content() or "").startswith("WELCOME-")
    await shot(page, "reward-pool-template.png")

    # A surprise campaign's reward is a select of the pools, kept when the campaign is saved.
    await page.goto(f"{site.first.url}/admin/campaigns/surprise_vip/edit")  # type: ignore[attr-defined]
    assert await page.locator("select[name=reward]").input_value() == "vip"
    await page.locator("select[name=reward]").scroll_into_view_if_needed()
    await shot(page, "campaign-reward.png", full=False)
    await page.fill("input[name=title]", "Thank you, with a gift")
    await page.click("button[value=save]")
    await page.wait_for_url("**/admin/campaigns/surprise_vip")
    assert await page.locator("a[href='/admin/rewards/vip']").count() == 1
    await done(page)


async def test_the_reward_pages_read_at_phone_width(browser: Browser, site: object) -> None:
    page = await signed_in(browser, site, "ana", width=390)  # type: ignore[arg-type]
    await page.goto(f"{site.first.url}/admin/rewards")  # type: ignore[attr-defined]
    await fits(page)
    await shot(page, "rewards-phone.png")
    await page.goto(f"{site.first.url}/admin/rewards/sorry")  # type: ignore[attr-defined]
    await fits(page)
    await shot(page, "reward-pool-phone.png")
    await done(page)
