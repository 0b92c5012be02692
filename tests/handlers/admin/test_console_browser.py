"""The console in a real browser (the system Chromium driven by Playwright) against two real `engagebot run`
processes on one PostgreSQL database: an admin who never saw YAML signs in, changes a question's wording, tries a
draft in the preview, publishes, sees customers get it on both instances, and rolls it back; edits a campaign's text,
sees the audience preview with it, sends it and sees its status, and the second instance serves the edit.

One browser and one pair of servers per module (per xdist worker); each test works on a flow of its own, so the
tests do not depend on their order. With ENGAGEBOT_ADMIN_SCREENSHOTS naming a folder (docs/img/admin), the pages
are saved there for docs/admin.md. Without Chromium the tests are skipped locally; in CI they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from bot.conversations.loader import parse_flow_file
from tests.conftest import STARTER_FLOWS, _create_pg_database, _drop_pg_database
from tests.handlers.test_webchat_browser import system_chromium
from tests.reliability.harness import EngagebotProcess, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]
PASSWORD = "correct horse battery"
CAMPAIGNS = {
    "spring_tips": {
        "title": "Spring tips",
        "kind": "tip",
        "message": "Hi {{ customer.first_name or 'there' }}, here is a spring tip!",
        "buttons": [{"label": "More tips", "flow": "value_tips"}],
    }
}
STAFF = [{"key": "maria", "name": "Maria Silva", "categories": ["delivery", "billing"], "languages": ["en", "pt"]},
         {"key": "joao", "name": "João Costa", "categories": ["feedback"], "capacity": 10}]  # fmt: skip
SHOTS = os.environ.get("ENGAGEBOT_ADMIN_SCREENSHOTS")
PAGES = [
    ("/admin/flows/nps/graph", "graph"),
    ("/admin/campaigns", "campaigns"),
    ("/admin/campaigns/spring_tips", "campaign"),
    ("/admin/campaigns/spring_tips/send", "campaign-send"),
    ("/admin/campaigns/spring_tips/edit", "campaign-edit"),
    ("/admin/campaigns/new", "campaign-new"),
    ("/admin/staff?customer=1&category=delivery", "staff"),
    ("/admin/incidents", "incidents"),
    ("/admin/audit", "audit"),
    ("/admin/accounts", "accounts"),
    ("/admin/flows/new?flow=spring_offer&title=Spring+offer", "new-flow"),
    ("/admin/flows", "flows"),
    ("/admin/flows/nps/texts", "texts"),
]


class Site:
    def __init__(self, first: EngagebotProcess, second: EngagebotProcess, flows: Path):
        self.first, self.second, self.flows = first, second, flows


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    folder = tmp_path_factory.mktemp("console")
    flows = folder / "flows"
    shutil.copytree(STARTER_FLOWS, flows)
    config = write_config(folder / "run", flows={"dir": str(flows), "hot_reload": False}, campaigns=CAMPAIGNS,
                          staff=STAFF, business={"name": "Lisbon Bikes"})  # fmt: skip
    name, url = await _create_pg_database()
    processes: list[EngagebotProcess] = []
    try:
        for n in (1, 2):
            processes.append(EngagebotProcess(config, url, folder / f"engagebot-{n}.log"))
            await processes[-1].wait_healthy()
        for account, role in (("ana", "editor"), ("vic", "viewer"), ("root", "admin")):
            command = [
                sys.executable,
                "-m",
                "handlers.cli",
                "admin",
                "add",
                account,
                "--role",
                role,
                "--password-stdin",
            ]
            await asyncio.to_thread(subprocess.run, command, input=f"{PASSWORD}\n".encode(), env=processes[0].env,
                                    cwd=config.parent, check=True, capture_output=True)  # fmt: skip
        yield Site(processes[0], processes[1], flows)
    finally:
        for process in processes:
            process.stop()
        await _drop_pg_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with system_chromium() as launched:
        yield launched


async def signed_in(browser: Browser, site: Site, name: str = "ana", width: int = 1280) -> Page:
    """A fresh browser profile, signed in through the login form. Every page must run under the CSP without error."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.problems = problems  # type: ignore[attr-defined]
    await page.goto(f"{site.first.url}/admin/")
    assert "/admin/login" in page.url
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/admin/flows")
    return page


async def done(page: Page) -> None:
    assert page.problems == []  # type: ignore[attr-defined]
    await page.context.close()


async def shot(page: Page, name: str, *, full: bool = True) -> None:
    if SHOTS:
        await asyncio.to_thread(os.makedirs, SHOTS, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / name), full_page=full)


async def chat_reply(url: str, visitor: str, text: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(f"{url}/chat/api/messages", json={"visitor": visitor, "text": text})
    return "\n".join(reply["text"] for reply in answer.json()["replies"])


async def eventually_served(url: str, command: str, text: str, timeout: float = 10) -> float:  # noqa: ASYNC109
    """Seconds until an instance answers `command` with `text` (a new visitor each try: a fresh conversation)."""
    started = time.monotonic()
    for attempt in range(200):
        if text in await chat_reply(url, f"visitor-poll-{command[1:]}-{attempt:06d}", command):
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"{url} did not serve the publish within {timeout}s"
        await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


async def test_sign_in_and_see_every_flow(browser: Browser, site: Site) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    login = await context.new_page()
    await login.goto(f"{site.first.url}/admin/login")
    await shot(login, "login.png", full=False)
    await context.close()
    page = await signed_in(browser, site)
    for flow in ("onboarding", "nps", "csat", "complaint"):
        await page.locator(f"#flow-{flow}").wait_for()
    await shot(page, "flows.png")
    await done(page)


async def test_fix_a_text_in_the_form_and_customers_get_it_on_both_instances(browser: Browser, site: Site) -> None:
    new = "On a scale from 0 to 10, would you recommend Lisbon Bikes to a friend?"
    page = await signed_in(browser, site)
    await page.click("#flow-nps a")
    await page.wait_for_url("**/admin/flows/nps/texts")
    await page.fill("[name='text:steps.0.ask']", new)
    await page.fill("input[name=note]", "a friendlier question")
    await shot(page, "texts.png")
    await page.click("button:has-text('Publish')")
    await page.locator(".flash", has_text="Published").wait_for()
    # The web chat of this instance, in the browser, at once:
    chat = await page.context.new_page()
    await chat.goto(f"{site.first.url}/chat")
    await chat.locator(".msg.out").first.wait_for()
    await chat.fill("#text", "/nps")
    await chat.press("#text", "Enter")
    await chat.locator(".msg.out", has_text=new).wait_for()
    # The second instance within a few seconds (it polls the flow store):
    await eventually_served(site.second.url, "/nps", new)  # within 10 s even on a loaded CI machine (polls: 2 s)
    await done(page)


async def test_broken_yaml_marks_the_line_and_publish_is_refused(browser: Browser, site: Site) -> None:
    page = await signed_in(browser, site)
    await page.goto(f"{site.first.url}/admin/flows/csat/yaml")
    await page.locator(".check-state.ok").wait_for()
    source = await page.input_value("#source")
    broken = source.replace("expect: rating", "expect: ratting", 1)
    assert broken != source
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "expect: ratting" in x)) + 1
    await page.fill("#source", broken)
    await page.locator(f".gutter .bad[data-line='{line}']").wait_for()
    await page.locator("ul.problems.live li", has_text=f"line {line}").wait_for()
    assert await page.locator("#publish").is_disabled()
    await page.click(f"ul.problems.live a:has-text('line {line}')")  # takes the editor to the line
    await shot(page, "yaml-invalid.png", full=False)
    # Forced past the disabled button, the server refuses it all the same:
    await page.evaluate("document.querySelector('form.yaml-editor').submit()")
    await page.locator(".error", has_text="fix them before publishing").wait_for()
    assert await page.locator("ul.problems li", has_text=f"line {line}").count() >= 1
    listing = await (await page.context.request.get(f"{site.first.url}/admin/flows?format=json")).json()
    assert next(f for f in listing["flows"] if f["id"] == "csat")["version"] == 1
    await done(page)


async def test_preview_the_draft_through_a_question_with_buttons_and_a_wait(browser: Browser, site: Site) -> None:
    onboarding = parse_flow_file(site.flows / "onboarding.yaml")
    page = await signed_in(browser, site)
    await page.goto(f"{site.first.url}/admin/flows/onboarding/yaml")
    source = await page.input_value("#source")
    draft = source.replace("how is your first day with us going?", "how was your first day, honestly?")
    await page.fill("#source", draft)  # unsaved: the preview runs what is in the editor
    await page.click("details.customer summary")
    await page.select_option("select[name=step]", str(onboarding.index_of("use_case")))
    await page.fill("input[name=tier]", "gold")
    await page.click("[data-act=start]")
    await page.locator(".chat .msg.out", has_text="what will you mainly use us for").wait_for()
    await page.click(".chat .msg.out button:has-text('Just for me')")
    await page.locator(".answers", has_text='"use_case": "personal"').wait_for()
    await page.locator(".chat .msg.out", has_text="Can I check in with you").wait_for()
    await page.click(".chat .msg.out:last-child button:has-text('Yes')")
    await page.locator(".chat .msg.out", has_text="what email address").wait_for()
    await page.fill("form.say input", "ana@example.com")
    await page.press("form.say input", "Enter")
    await page.locator(".chat .msg.out", has_text="I'll check in with you tomorrow").wait_for()
    await page.click("[data-act=skip]")
    await page.locator(".chat .msg.out", has_text="how was your first day, honestly?").wait_for()
    await shot(page, "preview.png")
    # Nothing was published:
    listing = await (await page.context.request.get(f"{site.first.url}/admin/flows?format=json")).json()
    assert next(f for f in listing["flows"] if f["id"] == "onboarding")["version"] == 1
    await done(page)


async def test_roll_back_a_change(browser: Browser, site: Site) -> None:
    changed = "Tip of the week: ride in the morning, the city is yours."
    page = await signed_in(browser, site)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(f"{site.first.url}/admin/flows/value_tips/texts")
    await page.fill("[name='text:steps.0.say']", changed)
    await page.click("button:has-text('Publish')")
    await page.locator(".flash", has_text="Published").wait_for()
    assert changed in await chat_reply(site.first.url, "visitor-tips-before-0001", "/tips")
    await page.goto(f"{site.first.url}/admin/flows/value_tips/versions")
    await page.locator(".diff .add", has_text=changed).wait_for()
    await shot(page, "versions.png")
    await page.click("button:has-text('Roll back to v1')")
    await page.locator(".flash", has_text="Rolled back").wait_for()
    assert changed not in await chat_reply(site.first.url, "visitor-tips-after-00001", "/tips")
    await done(page)


async def test_edit_a_campaign_see_the_preview_send_it_and_see_its_status_on_both_instances(
    browser: Browser, site: Site
) -> None:
    new = "Spring rides are back, {{ customer.first_name or 'friend' }}: oil your chain!"
    await chat_reply(site.first.url, "visitor-campaign-000001", "hi")  # a customer for the audience...
    await chat_reply(site.first.url, "visitor-campaign-000001", "cancel")  # ...not mid-conversation (deferred)
    page = await signed_in(browser, site)
    await page.goto(f"{site.first.url}/admin/campaigns/spring_tips")
    await page.locator("#audience-preview").wait_for()
    await page.click("a.button:has-text('Edit')")
    await page.wait_for_url("**/admin/campaigns/spring_tips/edit")
    await page.fill("textarea[name=message]", new)
    await page.click("button[value=preview]")  # the draft, not saved
    await page.locator(".sample .bubble", has_text="Spring rides are back, friend: oil your chain!").first.wait_for()
    await shot(page, "campaign-preview.png")
    second = f"{site.second.url}/admin/campaigns/spring_tips"
    assert "oil your chain" not in await (await page.context.request.get(second)).text()
    await page.click("button[value=save]")
    await page.locator(".flash", has_text="Campaign spring_tips saved (version 2)").wait_for()
    await page.locator(".sample .bubble", has_text="oil your chain").first.wait_for()
    # The second instance (the session is in the database, so the same cookie signs in there) within seconds:
    started = time.monotonic()
    while "oil your chain" not in await (await page.context.request.get(second)).text():
        assert time.monotonic() - started < 10, "the second instance did not pick up the campaign edit"
        await asyncio.sleep(0.25)
    await page.click("a.button:has-text('Send now')")
    await page.check("input[name=confirm]")
    await shot(page, "campaign-send.png", full=False)
    await page.click("button:has-text('Send')")
    await page.locator(".flash", has_text="Queued").wait_for()
    for _attempt in range(40):  # the dispatcher of either instance delivers it (web chat: no rate wait)
        if await page.locator("td .chip", has_text="sent").count():
            break
        await asyncio.sleep(0.25)
        await page.reload()
    await page.locator("td .chip", has_text="sent").wait_for()
    await shot(page, "campaign-run.png")
    audit = await (await page.context.request.get(f"{site.first.url}/admin/audit?format=json")).json()
    actions = [(e["action"], e["target"]) for e in audit["entries"][:2]]
    assert actions == [("campaign sent", "campaign:spring_tips"), ("campaign saved", "campaign:spring_tips")]
    await done(page)


async def test_a_post_without_csrf_is_refused(browser: Browser, site: Site) -> None:
    page = await signed_in(browser, site)
    answer = await page.context.request.post(f"{site.first.url}/admin/flows/complaint/texts",
                                             form={"head": "1", "note": "no token"})  # fmt: skip
    assert answer.status == 403
    answer = await page.context.request.post(f"{site.first.url}/admin/campaigns/spring_tips/edit",
                                             form={"head": "1", "message": "no token"})  # fmt: skip
    assert answer.status == 403
    await done(page)


async def test_a_viewer_reads_but_cannot_edit(browser: Browser, site: Site) -> None:
    page = await signed_in(browser, site, "vic")
    await page.goto(f"{site.first.url}/admin/flows/complaint/texts")
    assert await page.locator("[name='text:steps.0.say']").get_attribute("readonly") is not None
    assert await page.locator("button:has-text('Publish')").count() == 0
    token = await page.locator("main").get_attribute("data-csrf")
    answer = await page.context.request.post(f"{site.first.url}/admin/flows/complaint/texts",
                                             form={"csrf": token or "", "head": "1"})  # fmt: skip
    assert answer.status == 403
    await page.goto(f"{site.first.url}/admin/campaigns/spring_tips")
    assert await page.locator("a:has-text('Edit')").count() == 0 and await page.locator("text=Retire").count() == 0
    refused = await page.goto(f"{site.first.url}/admin/campaigns/spring_tips/edit")
    assert refused is not None and refused.status == 403
    viewers = {"csrf": token or "", "head": "1", "message": "a viewer's"}
    answer = await page.context.request.post(f"{site.first.url}/admin/campaigns/spring_tips/edit", form=viewers)
    assert answer.status == 403
    await done(page)


@pytest.mark.parametrize("width", [1280, 390])
async def test_every_page_shows_without_errors_at_desktop_and_phone_width(
    browser: Browser, site: Site, width: int
) -> None:
    page = await signed_in(browser, site, "root", width=width)
    phone = "-phone" if width < 600 else ""
    for path, name in PAGES:
        answer = await page.goto(f"{site.first.url}{path}")
        assert answer is not None and answer.status == 200, path
        await page.locator("main h1").first.wait_for()
        if phone or name in ("graph", "campaigns", "campaign", "campaign-edit", "staff", "audit", "accounts",
                             "new-flow"):  # fmt: skip
            await shot(page, f"{name}{phone}.png", full=not phone)
        scroll = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert scroll <= 1 or name == "graph", f"{path} scrolls sideways at {width}px"
        for link in await page.locator("nav.sections a").all():  # every section in sight, "Audit log" included
            box = await link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, await link.inner_text()
    await done(page)
