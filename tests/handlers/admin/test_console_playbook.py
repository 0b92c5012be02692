"""The playbook pages over real HTTP (SQLite and PostgreSQL): the cards say in plain words what each practice does;
a win-back step added in the form is in force and the card says so; a bad value comes back at its field with nothing
saved; a rewards text is previewed as a customer reads it; an old version is restored; and the doors: a viewer reads
but cannot save, a POST without CSRF is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from tests.conftest import make_settings
from tests.handlers.admin.support import console_site, sign_in

POOLS = {"welcome": {"title": "Welcome", "description": "10% off your next order", "template": "WELCOME-{random:8}"}}


class FormReader(HTMLParser):
    """The fields a browser would send from the page's form posting to `action` (ticked boxes, selected options)."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.inside, self.fields = action, False, []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action and a.get("method") == "post"
        elif not self.inside:
            return
        elif tag == "input" and a.get("name") and (a.get("type") not in ("checkbox", "radio") or "checked" in a):
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            name, value = self.fields.pop()
            self.fields.append((name, value + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_in(page: str, to: str, **changes: str) -> dict[str, list[str]]:
    reader = FormReader(to)
    reader.feed(page)
    fields: dict[str, list[str]] = {}
    for name, value in reader.fields:
        fields.setdefault(name, []).append(value)
    fields.update({name.replace("__", "."): [value] for name, value in changes.items()})
    return fields


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, rewards={"pools": POOLS})


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[str]:
    async with console_site(settings, ana="editor", vic="viewer") as url:
        yield url


@pytest.fixture
async def http(site: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site, timeout=20, follow_redirects=True) as client:
        await sign_in(client, "ana")
        yield client


async def test_the_cards_say_what_each_practice_does_and_a_step_added_in_the_form_is_in_force(
    http: httpx.AsyncClient,
) -> None:
    cards = await http.get("/admin/playbook")
    assert cards.status_code == 200
    for title in ("Win-back", "Activation", "Cross-sell", "Re-survey", "Rewards", "Incident notices"):
        assert f">{title}</a></h2>" in cards.text
    assert "On: after a cancellation, day 7 “what would bring you back”" in cards.text
    assert "1 pool: welcome (made from WELCOME-{random:8})" in cards.text
    page = await http.get("/admin/playbook/winback")
    assert 'name="steps.3.after_days" value=""' in page.text  # the empty row to add one
    form = form_in(page.text, "/admin/playbook/winback", steps__3__after_days="120", steps__3__flow="winback_news",
                   steps__1__remove="on", note="a last try after four months")  # fmt: skip
    saved = await http.post("/admin/playbook/winback", data=form)
    assert saved.status_code == 200 and "Win-back saved (version 2)" in saved.text
    assert "day 7 “what would bring you back” and days 90 and 120 “what&#39;s new”" in saved.text
    assert "Version 2 · ana" in saved.text
    json = (await http.get("/admin/playbook?format=json")).json()["sections"][0]
    assert json["name"] == "winback" and json["version"] == 2 and json["changed_by"] == "ana"
    audit = (await http.get("/admin/audit?format=json")).json()["entries"][0]
    assert audit["action"] == "settings saved" and audit["target"] == "playbook:winback"
    history = await http.get("/admin/playbook/winback")
    assert "a last try after four months" in history.text and '<span class="add">+- after_days: 120.0</span>' in (
        history.text
    )


async def test_a_bad_value_comes_back_at_its_field_and_nothing_is_saved(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/playbook/winback")
    form = form_in(page.text, "/admin/playbook/winback", steps__0__after_days="-3", steps__3__after_days="20")
    refused = await http.post("/admin/playbook/winback", data=form)
    assert refused.status_code == 400 and "Nothing was saved" in refused.text
    assert 'id="error-steps-0-after_days">Input should be greater than 0</div>' in refused.text
    assert 'id="error-steps-3-flow">Field required</div>' in refused.text
    assert 'name="steps.0.after_days" value="-3"' in refused.text  # what was typed is kept
    page = await http.get("/admin/playbook/crosssell")
    form = form_in(page.text, "/admin/playbook/crosssell", rules__0__name="helmet", rules__0__bought="bike",
                   rules__0__offer="helmet", rules__0__text="A helmet?", rules__0__flow="winback_asc")  # fmt: skip
    refused = await http.post("/admin/playbook/crosssell", data=form)
    assert 'id="error-rules-0-flow">there is no flow &#34;winback_asc&#34;' in refused.text
    versions = (await http.get("/admin/playbook?format=json")).json()["sections"]
    assert {s["version"] for s in versions} == {1}


async def test_a_reward_text_is_previewed_as_a_customer_reads_it_and_an_old_version_restored(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/admin/playbook/rewards")
    assert "Here is your reward: WELCOME-7KQ2MXTP (10% off your next order)" in page.text
    text = "Thanks {{ customer.first_name }}! Your code: {{ reward.code }}"
    form = form_in(page.text, "/admin/playbook/rewards", given_text=text, action="preview")
    preview = await http.post("/admin/playbook/rewards", data=form)
    assert preview.status_code == 200 and "Thanks Maria! Your code: WELCOME-7KQ2MXTP" in preview.text
    assert (await http.get("/admin/playbook?format=json")).json()["sections"][4]["version"] == 1  # not saved
    form["action"] = ["save"]
    assert (await http.post("/admin/playbook/rewards", data=form)).status_code == 200
    page = await http.get("/admin/playbook/rewards")
    assert "Thanks Maria!" in page.text and "Restore v1" in page.text
    restored = await http.post(
        "/admin/playbook/rewards/versions/1/restore",
        data=form_in(page.text, "/admin/playbook/rewards/versions/1/restore"),
    )
    assert "Version 1 is in force again, as version 3." in restored.text
    assert "Here is your reward: WELCOME-7KQ2MXTP" in restored.text


async def test_a_viewer_reads_but_cannot_save_and_a_post_without_csrf_is_refused(site: str) -> None:
    async with httpx.AsyncClient(base_url=site, timeout=20) as viewer:
        await sign_in(viewer, "vic")
        page = await viewer.get("/admin/playbook/activation")
        assert page.status_code == 200 and '<fieldset class="plain" disabled>' in page.text
        assert ">Save</button>" not in page.text and "needs the editor role" in page.text
        json = (await viewer.get("/admin/playbook/activation?format=json")).json()
        assert json["settings"]["nudges"][0] == {"after_days": 5.0, "flow": "activation_nudge"}
        assert [(v["number"], v["origin"]) for v in json["versions"]] == [(1, "config")]
        form = form_in(page.text, "/admin/playbook/activation", enabled="")
        posted = await viewer.post("/admin/playbook/activation", data=form)
        assert posted.status_code == 403 and "editor role" in posted.text
    async with httpx.AsyncClient(base_url=site, timeout=20, follow_redirects=True) as editor:
        await sign_in(editor, "ana")
        page = await editor.get("/admin/playbook/activation")
        form = form_in(page.text, "/admin/playbook/activation")
        del form["enabled"], form["csrf"]
        assert (await editor.post("/admin/playbook/activation", data=form)).status_code == 403
        assert "On: customers who signed up" in (await editor.get("/admin/playbook")).text
        assert (await editor.get("/admin/playbook/nope")).status_code == 404
