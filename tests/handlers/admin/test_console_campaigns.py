"""The campaign pages over real HTTP (SQLite and PostgreSQL): editing a campaign's text and seeing the preview and
the send use it, a draft previewed without saving, an invalid draft refused with each problem at its field, a new
campaign, retiring one, and the doors: a viewer reads but cannot edit, a POST without CSRF is refused."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from tests.conftest import make_settings
from tests.handlers.admin.support import console_site, csrf_in, sign_in

CAMPAIGNS = {"spring": {"title": "Spring tips", "kind": "tip", "message": "Hi {{ customer.first_name }}, a tip!",
                        "buttons": [{"label": "More tips", "flow": "value_tips"}]}}  # fmt: skip
NEW_TEXT = "Spring is here, {{ business.name }} has a new tip"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, campaigns=CAMPAIGNS)


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[str]:
    async with console_site(settings, ana="editor", vic="viewer") as url:
        yield url


@pytest.fixture
async def http(site: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site, timeout=20) as client:
        await sign_in(client, "ana")
        await client.post("/chat/api/messages", json={"visitor": "visitor-aaaaaaaaaaaa1", "text": "hi"})  # a customer
        yield client


def edit_form(page: str, **changes: str) -> dict[str, str | list[str]]:
    """The form as the page filled it, with `changes` (field: value)."""
    form: dict[str, str | list[str]] = {
        "csrf": csrf_in(page), "head": html.unescape(_value(page, "head")), "title": "Spring tips", "kind": "tip",
        "enabled": "on", "content": "message", "message": "Hi {{ customer.first_name }}, a tip!",
        "buttons": "More tips -> value_tips", "schedule": "", "at": "", "audience.tags": "", "audience.when": "",
        "audience.inactive_days": "", "repeat_after_days": "", "expire_after_hours": "", "flow": "",
        "action": "save",
    }  # fmt: skip
    form.update(changes)
    return form


def _value(page: str, name: str) -> str:
    marker = f'name="{name}" value="'
    if marker not in page:
        return "1"
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


async def test_a_text_edited_in_the_console_is_what_the_preview_shows_and_the_send_queues(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/admin/campaigns/spring/edit")
    assert page.status_code == 200 and "More tips -&gt; value_tips" in page.text
    saved = await http.post("/admin/campaigns/spring/edit", data=edit_form(page.text, message=NEW_TEXT))
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/campaigns/spring"
    shown = await http.get("/admin/campaigns/spring")
    assert "Campaign spring saved (version 2)" in shown.text
    assert "Spring is here, " in shown.text and "has a new tip" in shown.text  # the rendered sample
    assert "In the audience: 1" in shown.text
    listing = (await http.get("/admin/campaigns?format=json")).json()["campaigns"]
    assert [(c["name"], c["version"], c["changed_by"]) for c in listing] == [("spring", 2, "ana")]
    audit = (await http.get("/admin/audit?format=json")).json()["entries"]
    assert (audit[0]["actor"], audit[0]["action"], audit[0]["target"]) == ("ana", "campaign saved", "campaign:spring")
    confirm = await http.get("/admin/campaigns/spring/send")
    sent = await http.post("/admin/campaigns/spring/send", data={"csrf": csrf_in(confirm.text), "confirm": "yes"})
    status = await http.get(sent.headers["location"])
    assert "Queued 1 messages" in status.text


async def test_a_draft_is_previewed_without_being_saved(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/campaigns/spring/edit")
    previewed = await http.post("/admin/campaigns/spring/edit",
                                data=edit_form(page.text, message=NEW_TEXT, action="preview"))  # fmt: skip
    assert previewed.status_code == 200
    assert "Preview of this draft" in previewed.text and "has a new tip" in previewed.text
    assert "has a new tip" not in (await http.get("/admin/campaigns/spring")).text


INVALID = [
    ({"audience.tiers": "vipp"}, "audience-tiers", "unknown tier &#34;vipp&#34;"),
    ({"schedule": "*: 0 25 * * *"}, "schedule", "schedule for &#39;*&#39;"),
    ({"schedule": "every monday"}, "schedule", "write each line as TIER: CRON"),
    ({"buttons": "More -> value_tipz"}, "buttons", "there is no flow &#34;value_tipz&#34;"),
    ({"message": "Hi {{ customer.first_name"}, "message", ""),
    ({"at": "2026-12-01T10:00:00"}, "at", "at needs a UTC offset"),
    ({"repeat_after_days": "-2"}, "repeat_after_days", "greater than 0"),
    ({"content": "flow", "flow": ""}, "flow", "choose the flow the campaign starts"),
]


async def test_an_invalid_campaign_is_never_saved_and_each_problem_is_at_its_field(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/campaigns/spring/edit")
    for changes, field, message in INVALID:
        refused = await http.post("/admin/campaigns/spring/edit", data=edit_form(page.text, **changes))
        assert refused.status_code == 400, changes
        assert f'id="error-{field}"' in refused.text and message in refused.text, (changes, refused.text)
        assert "Nothing was saved" in refused.text
    listing = (await http.get("/admin/campaigns?format=json")).json()["campaigns"]
    assert listing[0]["version"] == 1


async def test_a_new_campaign_is_created_and_a_retired_one_is_gone(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/campaigns/new")
    form = edit_form(page.text, name="winter", title="Winter news", kind="news", message="Winter is coming")
    created = await http.post("/admin/campaigns/new", data=form)
    assert created.status_code == 303 and created.headers["location"] == "/admin/campaigns/winter"
    again = await http.post("/admin/campaigns/new", data=form)
    assert again.status_code == 400 and "a campaign &#34;winter&#34; exists already" in again.text
    shown = await http.get("/admin/campaigns/winter")
    assert "Winter is coming" in shown.text
    unconfirmed = await http.post("/admin/campaigns/winter/retire", data={"csrf": csrf_in(shown.text)})
    assert (await http.get(unconfirmed.headers["location"])).status_code == 200
    retired = await http.post("/admin/campaigns/winter/retire", data={"csrf": csrf_in(shown.text), "confirm": "yes"})
    assert retired.headers["location"] == "/admin/campaigns"
    assert (await http.get("/admin/campaigns/winter")).status_code == 404
    names = [c["name"] for c in (await http.get("/admin/campaigns?format=json")).json()["campaigns"]]
    assert names == ["spring"]
    actions = [e["action"] for e in (await http.get("/admin/audit?format=json")).json()["entries"]]
    assert actions[:2] == ["campaign retired", "campaign created"]


async def test_a_viewer_reads_but_cannot_edit_and_a_post_without_csrf_is_refused(site: str) -> None:
    async with httpx.AsyncClient(base_url=site, timeout=20) as viewer:
        await sign_in(viewer, "vic")
        page = await viewer.get("/admin/campaigns/spring")
        assert page.status_code == 200 and "Edit</a>" not in page.text and "Retire" not in page.text
        assert (await viewer.get("/admin/campaigns/spring/edit")).status_code == 403
        posted = await viewer.post("/admin/campaigns/spring/edit", data=edit_form(page.text, message="x"))
        assert posted.status_code == 403 and "editor role" in posted.text
    async with httpx.AsyncClient(base_url=site, timeout=20) as editor:
        await sign_in(editor, "ana")
        page = await editor.get("/admin/campaigns/spring/edit")
        form = edit_form(page.text, message=NEW_TEXT)
        del form["csrf"]
        refused = await editor.post("/admin/campaigns/spring/edit", data=form)
        assert refused.status_code == 403
        assert "has a new tip" not in (await editor.get("/admin/campaigns/spring")).text
