"""The flow pages over real HTTP (SQLite and PostgreSQL): the texts form, the YAML check and a refused publish, the
graph, versions with diff and rollback, a new flow, the preview endpoint; and the campaign and staff pages."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.conversations.loader import parse_flow_file
from tests.conftest import make_settings
from tests.handlers.admin.support import add_account, csrf_in, page_csrf, sign_in
from tests.handlers.test_webchat import serving

NEW_ASK = "Would you tell a friend about us? 0 to 10"
CAMPAIGNS = {"spring": {"title": "Spring tips", "kind": "tip", "message": "Hi {{ customer.first_name }}, a tip!",
                        "buttons": [{"label": "More tips", "flow": "value_tips"}]}}  # fmt: skip
STAFF = [{"key": "maria", "name": "Maria Silva", "categories": ["delivery"]}]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    # No re-survey: it would name the nps flow, which the retire test takes out of service.
    return make_settings(
        tmp_path, database_url, flows_dir, campaigns=CAMPAIGNS, staff=STAFF, resurvey={"enabled": False}
    )


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await add_account(settings, "ana", "editor")
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=20) as client:
        await sign_in(client, "ana")
        yield client


async def chat_says(http: httpx.AsyncClient, text: str, visitor: str) -> list[str]:
    answer = await http.post("/chat/api/messages", json={"visitor": visitor, "text": text})
    return [reply["text"] for reply in answer.json()["replies"]]


async def test_a_wording_fixed_in_the_texts_form_is_what_customers_get(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/flows/nps/texts")
    assert 'name="text:steps.0.ask"' in page.text
    form = {"csrf": csrf_in(page.text), "head": "1", "text:steps.0.ask": NEW_ASK, "note": "simpler"}
    answer = await http.post("/admin/flows/nps/texts", data=form)
    assert answer.status_code == 303
    after = await http.get(answer.headers["location"])
    assert "Published" in after.text and NEW_ASK in after.text
    assert NEW_ASK in (await chat_says(http, "/nps", "visitor-aaaaaaaaaaaa1"))[-1]
    flows = await http.get("/admin/flows?format=json")
    nps = next(f for f in flows.json()["flows"] if f["id"] == "nps")
    assert (nps["version"], nps["changed_by"], nps["valid"]) == (2, "ana", True)


async def test_the_yaml_check_marks_lines_and_a_broken_publish_is_refused(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/flows/nps/yaml")
    token = csrf_in(page.text)
    source = re.search(r'<textarea name="source"[^>]*>(.*?)</textarea>', page.text, re.S).group(1)  # type: ignore[union-attr]
    broken = html.unescape(source).replace("expect: nps", "expekt: nps")
    check = await http.post("/admin/flows/nps/check", json={"source": broken}, headers={"X-CSRF-Token": token})
    result = check.json()
    assert result["valid"] is False
    line = broken.splitlines().index("    expekt: nps") + 1
    assert {"line": line, "message": 'unknown key "expekt" (did you mean "expect"?)'} in result["problems"]
    refused = await http.post("/admin/flows/nps/yaml", data={"csrf": token, "head": "1", "source": broken})
    assert refused.status_code == 400 and f"line {line}" in refused.text
    versions = await http.get("/admin/flows/nps/versions")
    assert "<strong>v1</strong>" in versions.text and "<strong>v2</strong>" not in versions.text  # not in a token
    no_token = await http.post("/admin/flows/nps/check", json={"source": broken})
    assert no_token.status_code == 403


async def test_the_graph_is_svg_whose_steps_link_to_their_texts(http: httpx.AsyncClient, flows_dir: Path) -> None:
    steps = parse_flow_file(flows_dir / "nps.yaml").flow.steps
    page = await http.get("/admin/flows/nps/graph")
    assert "<svg" in page.text
    for index in range(len(steps)):
        assert page.text.count(f'href="/admin/flows/nps/texts#step-{index}"') == 1
    assert "no answer" in page.text and "answers.score &gt;= 9" in page.text


async def test_versions_diff_and_rollback_through_the_pages(http: httpx.AsyncClient) -> None:
    token = await page_csrf(http, "/admin/flows/nps/texts")
    await http.post("/admin/flows/nps/texts", data={"csrf": token, "head": "1", "text:steps.0.ask": NEW_ASK})
    versions = await http.get("/admin/flows/nps/versions?a=1&b=2")
    assert f"+      {NEW_ASK}" in versions.text and "wording changed in the texts form" in versions.text
    rolled = await http.post("/admin/flows/nps/versions/1/rollback", data={"csrf": token})
    assert rolled.status_code == 303
    assert "as version 3" in (await http.get(rolled.headers["location"])).text
    assert NEW_ASK not in (await chat_says(http, "/nps", "visitor-aaaaaaaaaaaa2"))[-1]
    assert "flow rolled back" in (await http.get("/admin/audit")).text
    versions_json = (await http.get("/admin/flows/nps/versions?format=json")).json()["versions"]
    assert [(v["number"], v["origin"], v["author"]) for v in versions_json] == [
        (3, "rollback", "ana"),
        (2, "console", "ana"),
        (1, "file", "flows/"),
    ]


async def test_a_new_flow_starts_from_the_starter_template(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/flows/new?flow=spring_offer&title=Spring+offer")
    source = re.search(r'<textarea name="source"[^>]*>(.*?)</textarea>', page.text, re.S).group(1)  # type: ignore[union-attr]
    created = await http.post("/admin/flows/new", data={"csrf": csrf_in(page.text), "source": html.unescape(source)})
    assert created.status_code == 303 and created.headers["location"] == "/admin/flows/spring_offer/texts"
    flows = (await http.get("/admin/flows?format=json")).json()["flows"]
    assert "spring_offer" in {f["id"] for f in flows}
    taken = await http.get("/admin/flows/new?flow=nps")
    assert "exists already" in taken.text


async def test_the_preview_endpoint_runs_the_draft(http: httpx.AsyncClient) -> None:
    token = await page_csrf(http, "/admin/flows/nps/yaml")
    source = """flow: nps
steps:
  - ask: Pick one
    expect: choice
    choices: [{label: Red}, {label: Blue}]
  - end: "You chose {{ answers.step_1 or 'something' }}"
"""
    start = await http.post("/admin/flows/nps/preview", headers={"X-CSRF-Token": token},
                            json={"action": "start", "flow": "nps", "source": source})  # fmt: skip
    data = start.json()
    assert [b["label"] for b in data["messages"][0]["buttons"]] == ["Red", "Blue"]
    pressed = await http.post("/admin/flows/nps/preview", headers={"X-CSRF-Token": token},
                              json={"action": "press", "preview": data["preview"],
                                    "choice": data["messages"][0]["buttons"][1]["value"]})  # fmt: skip
    assert pressed.json()["status"] == "done"
    broken = await http.post("/admin/flows/nps/preview", headers={"X-CSRF-Token": token},
                             json={"action": "start", "flow": "nps", "source": "flow: nps\n"})  # fmt: skip
    assert broken.status_code == 400 and broken.json()["problems"]


async def test_campaign_pages_show_the_audience_and_a_confirmed_send_its_status(http: httpx.AsyncClient) -> None:
    await chat_says(http, "hi", "visitor-aaaaaaaaaaaa3")  # one customer
    listing = await http.get("/admin/campaigns")
    assert "Spring tips" in listing.text
    campaign = await http.get("/admin/campaigns/spring")
    assert "More tips" in campaign.text and "In the audience: 1" in campaign.text
    confirm = await http.get("/admin/campaigns/spring/send")
    assert "Yes, send it to 1 customers" in confirm.text
    unconfirmed = await http.post("/admin/campaigns/spring/send", data={"csrf": csrf_in(confirm.text)})
    assert unconfirmed.headers["location"] == "/admin/campaigns/spring/send"
    sent = await http.post("/admin/campaigns/spring/send", data={"csrf": csrf_in(confirm.text), "confirm": "yes"})
    assert sent.status_code == 303 and "/admin/campaigns/spring/runs/" in sent.headers["location"]
    status = await http.get(sent.headers["location"])
    assert "Queued 1 messages" in status.text and "Delivery decisions" in status.text


async def test_the_staff_page_explains_who_would_get_a_ticket(http: httpx.AsyncClient) -> None:
    await chat_says(http, "hi", "visitor-aaaaaaaaaaaa4")
    page = await http.get("/admin/staff?customer=1&category=delivery&severity=normal")
    assert "Maria Silva" in page.text and "Would go to" in page.text
    unknown = await http.get("/admin/staff?customer=999&category=delivery")
    assert "There is no customer 999" in unknown.text


async def test_a_refused_flow_file_is_shown_at_its_line_on_the_flow_list(settings: Settings, flows_dir: Path) -> None:
    csat = flows_dir / "csat.yaml"
    csat.write_text(csat.read_text().replace("expect: rating", "expect: ratting"), encoding="utf-8")
    line = csat.read_text().splitlines().index(next(x for x in csat.read_text().splitlines() if "ratting" in x)) + 1
    await add_account(settings, "ana", "viewer")
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        await sign_in(http, "ana")
        page = await http.get("/admin/flows")
    assert "Flow files refused" in page.text
    assert f"csat.yaml:{line}</span>" in page.text and "did you mean &#34;rating&#34;" in page.text


async def test_retiring_a_flow_asks_for_a_confirmation_and_restore_brings_it_back(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/flows/nps/versions")
    assert 'action="/admin/flows/nps/retire"' in page.text
    form = {"csrf": csrf_in(page.text), "head": "1"}
    unconfirmed = await http.post("/admin/flows/nps/retire", data=form)
    assert unconfirmed.headers["location"] == "/admin/flows/nps/versions"
    assert "nps" in [f["id"] for f in (await http.get("/admin/flows?format=json")).json()["flows"]]
    retired = await http.post("/admin/flows/nps/retire", data=form | {"confirm": "yes"})
    assert retired.headers["location"] == "/admin/flows"
    listing = await http.get("/admin/flows")
    assert "Flow nps retired" in listing.text and 'id="retired-nps"' in listing.text
    assert "nps" not in [f["id"] for f in (await http.get("/admin/flows?format=json")).json()["flows"]]
    assert "I don't know the command /nps." in (await chat_says(http, "/nps", "visitor-aaaaaaaaaaaa5"))[-1]
    audit = (await http.get("/admin/audit?format=json")).json()["entries"][0]
    assert (audit["actor"], audit["action"], audit["target"]) == ("ana", "flow retired", "flow:nps")
    restored = await http.post("/admin/flows/nps/versions/1/rollback", data={"csrf": csrf_in(listing.text)})
    assert restored.status_code == 303
    assert "recommend" in (await chat_says(http, "/nps", "visitor-aaaaaaaaaaaa6"))[-1]
