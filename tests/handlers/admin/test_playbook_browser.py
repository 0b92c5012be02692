"""The playbook pages in a real browser (the system Chromium driven by Playwright) against two real `engagebot run`
processes on one PostgreSQL database: an owner reads what each practice does, adds a fourth win-back message in the
form, saves it with a note, sees the card change, and the second instance has it within seconds; at phone width the
pages read as well. With ENGAGEBOT_ADMIN_SCREENSHOTS naming a folder (docs/img/admin), the pages are saved there for
docs/admin.md."""

from __future__ import annotations

import asyncio
import time

import httpx
from playwright.async_api import Browser

from tests.handlers.admin import test_console_browser as console
from tests.handlers.admin.test_console_browser import Site, done, shot, signed_in

pytestmark = console.pytestmark
# One browser and one pair of servers for this module: the console's own fixtures.
site, browser = console.site, console.browser


async def eventually_in_force(url: str, cookies: httpx.Cookies, says: str, timeout: float = 10) -> None:  # noqa: ASYNC109
    """Wait until the instance at `url` shows `says` on a card (it polls the settings store every 2 s)."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=5) as http:
        while says not in (await http.get("/admin/playbook")).text:
            assert time.monotonic() - started < timeout, f"{url} did not put the save in force within {timeout}s"
            await asyncio.sleep(0.25)


async def test_add_a_win_back_message_and_see_the_card_change_on_both_instances(browser: Browser, site: Site) -> None:
    page = await signed_in(browser, site)
    await page.goto(f"{site.first.url}/admin/playbook")
    winback = page.locator("section.practice#winback")
    await winback.locator(".says", has_text="day 30 “an offer to come back”").wait_for()
    await shot(page, "playbook.png")
    await winback.locator("a.button", has_text="Change").click()
    await page.wait_for_url("**/admin/playbook/winback")
    await page.fill("[name='steps.3.after_days']", "180")
    await page.select_option("[name='steps.3.flow']", "winback_news")
    await page.fill("input[name=note]", "one more try after half a year")
    await shot(page, "playbook-winback.png")
    await page.click("button:has-text('Save')")
    await page.wait_for_url("**/admin/playbook")
    await page.locator(".flash", has_text="Win-back saved (version 2)").wait_for()
    await winback.locator(".says", has_text="days 90 and 180 “what's new”").wait_for()
    cookies = httpx.Cookies({c["name"]: c["value"] for c in await page.context.cookies() if c.get("value")})
    await eventually_in_force(site.second.url, cookies, "days 90 and 180 “what&#39;s new”")
    await page.goto(f"{site.first.url}/admin/playbook/winback#versions")
    await page.locator("td", has_text="one more try after half a year").wait_for()
    await page.locator(".diff .add", has_text="after_days: 180").wait_for()
    await done(page)


async def test_the_pages_read_at_phone_width_and_a_viewer_has_no_save(browser: Browser, site: Site) -> None:
    phone = await signed_in(browser, site, width=390)
    await phone.goto(f"{site.first.url}/admin/playbook")
    await phone.locator("section.practice#rewards").wait_for()
    await shot(phone, "playbook-phone.png")
    await phone.goto(f"{site.first.url}/admin/playbook/incidents")
    await phone.locator(".example", has_text="Late deliveries from the Porto warehouse").first.wait_for()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at a 390 px viewport"
    await shot(phone, "playbook-incidents-phone.png")
    await done(phone)
    viewer = await signed_in(browser, site, name="vic")
    await viewer.goto(f"{site.first.url}/admin/playbook/activation")
    assert await viewer.locator("button:has-text('Save')").count() == 0
    assert await viewer.locator("[name='nudges.0.after_days']").is_disabled()
    await done(viewer)
