"""The reward pages over real HTTP (SQLite and PostgreSQL): the pools with their stock and a warning when empty or
low; an editor imports a CSV file (added, already there, repeated, invalid lines by number), gives a code by hand
once per customer (an empty pool gives none and alerts staff), reads the ledger a page at a time, filtered and as
CSV; a viewer reads but cannot import or give; a campaign keeps its reward pool through the form."""

from __future__ import annotations

import asyncio
import csv
import html
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.customers.models import Customer
from bot.outbox.models import OutboxItem
from bot.rewards.alerts import RewardKind
from tests.conftest import make_settings
from tests.handlers.admin.support import add_account, csrf_in, sign_in
from tests.handlers.test_webchat import serving

POOLS = {
    "sorry": {"title": "Apology voucher", "description": "10% off your next order", "alert_below": 2},
    "welcome": {"title": "Welcome gift", "template": "WELCOME-{random:8}"},
    "spare": {"title": "Spare codes"},
}
REWARDS = {"pools": POOLS, "alert_channel": "#perks"}
CAMPAIGNS = {"vip": {"title": "A surprise", "kind": "thank_you", "audience": {"tiers": ["standard"]},
                     "message": "Thanks! {{ reward.code }}", "reward": "sorry"}}  # fmt: skip
GOOD_CSV = "code,value\nSORRY-1,10%\nSORRY-2,10%\nSORRY-1,again\n,10%\nSORRY-3,10%\n" + "X" * 101 + ",long\n"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, rewards=REWARDS, campaigns=CAMPAIGNS,
                         server={"max_body_bytes_by_path": {"/admin/rewards": 8 * 1024}})  # fmt: skip


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Core]:
    """The server's database seen as the CLI sees it: customers added, codes redeemed, the outbox read."""
    await add_account(settings, "ana", "editor")
    await add_account(settings, "vic", "viewer")
    core = Core(settings)
    await core.prepare_storage()
    async with core.db.transaction() as session:
        session.add_all([Customer(display_name="Rita Lima", external_id="C-1"), Customer(display_name="=HYPERLINK(1)"),
                         Customer(display_name="Joe")])  # fmt: skip
    try:
        yield core
    finally:
        await core.close()


@pytest.fixture
async def site(core: Core, settings: Settings) -> AsyncIterator[str]:
    async with serving(settings) as url:
        yield url


@pytest.fixture
async def http(site: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site, timeout=20) as client:
        await sign_in(client, "ana")
        yield client


async def upload(http: httpx.AsyncClient, pool: str, content: bytes, name: str = "codes.csv") -> httpx.Response:
    page = await http.get(f"/admin/rewards/{pool}")
    return await http.post(f"/admin/rewards/{pool}/import", data={"csrf": csrf_in(page.text)},
                           files={"file": (name, content, "text/csv")})  # fmt: skip


async def raw_post(base: str, path: str, body: bytes) -> int:
    """The status of a POST sent in one write: the server refuses it unread, and closes the connection on a client
    still sending (httpx's sender would see a reset)."""
    url = httpx.URL(base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: text/csv\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def give(http: httpx.AsyncClient, pool: str, customer: str, reason: str = "Parcel arrived damaged") -> str:
    """The one line the pool's page shows after the form was sent."""
    page = await http.get(f"/admin/rewards/{pool}")
    sent = await http.post(f"/admin/rewards/{pool}/give",
                           data={"csrf": csrf_in(page.text), "customer": customer, "reason": reason})  # fmt: skip
    assert sent.status_code == 303 and sent.headers["location"] == f"/admin/rewards/{pool}"
    shown = html.unescape((await http.get(f"/admin/rewards/{pool}")).text)
    return shown.split('<p class="flash" role="status">', 1)[1].split("</p>", 1)[0]


async def test_the_pools_page_shows_each_pools_stock_and_warns_of_an_empty_one(http: httpx.AsyncClient) -> None:
    await upload(http, "sorry", b"SORRY-1\nSORRY-2\nSORRY-3\n")
    page = await http.get("/admin/rewards")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Apology voucher" in text and "10% off your next order" in text and "Welcome gift" in text
    assert "generated from a template" in text and "imported codes" in text and "made on demand" in text
    assert 'href="/admin/playbook/rewards"' in text and ">Edit pools<" in text
    warning = text.split('<p class="warning" role="alert">', 1)[1].split("</p>", 1)[0]
    assert "<strong>Spare codes</strong>:" in warning and "the pool is empty." in warning
    assert 'aria-current="page">Rewards<' in text  # the navigation's entry
    pools = {p["pool"]: p for p in (await http.get("/admin/rewards?format=json")).json()["pools"]}
    assert (pools["sorry"]["codes_left"], pools["sorry"]["given"], pools["sorry"]["state"]) == (3, 0, "ok")
    assert (pools["spare"]["codes_left"], pools["spare"]["state"]) == (0, "empty")
    assert (pools["welcome"]["codes_left"], pools["welcome"]["generated"]) == (None, True)

    assert (await give(http, "sorry", "1")).startswith("Gave SORRY-1")
    assert (await give(http, "sorry", "2")).startswith("Gave SORRY-2")
    pools = {p["pool"]: p for p in (await http.get("/admin/rewards?format=json")).json()["pools"]}
    assert (pools["sorry"]["codes_left"], pools["sorry"]["state"]) == (1, "low")  # under its alert_below of 2
    assert "only 1 codes left (the alert is at 2)" in html.unescape((await http.get("/admin/rewards")).text)


async def test_a_csv_import_reports_added_repeated_and_invalid_lines_by_number(
    http: httpx.AsyncClient, core: Core
) -> None:
    await core.rewards.import_codes("sorry", "SORRY-3\n")
    done = await upload(http, "sorry", GOOD_CSV.encode())
    assert done.status_code == 200
    text = html.unescape(done.text)
    assert "2 codes added, 1 already in the pool, 1 repeated in the file, 2 invalid." in text.replace(
        "<strong>", ""
    ).replace("</strong>", "")
    assert "line 5: no code in column 1" in text
    assert "line 7: not a usable code (printable, up to 100 characters)" in text
    assert 'data-figure="left">3<' in text  # the count changed on the page that answered
    audit = (await http.get("/admin/audit?format=json")).json()["entries"][0]
    assert (audit["actor"], audit["action"], audit["target"]) == ("ana", "reward codes imported", "rewards:sorry")
    assert "2 added" in audit["detail"]

    again = html.unescape((await upload(http, "sorry", GOOD_CSV.encode())).text)
    assert "0 codes added, 3 already in the pool" in again.replace("<strong>", "").replace("</strong>", "")

    latin = await upload(http, "sorry", "CAFÉ-1\n".encode("latin-1"), "latin.csv")
    assert latin.status_code == 400 and "latin.csv is not UTF-8 text" in html.unescape(latin.text)
    page = await http.get("/admin/rewards/sorry")
    empty = await http.post("/admin/rewards/sorry/import", data={"csrf": csrf_in(page.text)},
                            files={"file": ("", b"", "text/csv")})  # fmt: skip
    assert empty.status_code == 400 and "Choose a CSV file to import." in empty.text


async def test_an_upload_over_the_body_limit_is_refused_and_imports_nothing(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/rewards/sorry")
    assert 'data-max-bytes="4096"' in page.text and "up to 8 KB" in page.text  # the browser stops it first
    big = "".join(f"CODE-{i:06}\n" for i in range(800)).encode()  # 9.6 KB
    assert await raw_post(str(http.base_url), "/admin/rewards/sorry/import", big) == 413
    pools = {p["pool"]: p for p in (await http.get("/admin/rewards?format=json")).json()["pools"]}
    assert pools["sorry"]["codes_left"] == 0


async def test_a_template_pool_shows_an_example_code_and_takes_no_import(http: httpx.AsyncClient) -> None:
    page = html.unescape((await http.get("/admin/rewards/welcome")).text)
    assert "Codes from a template" in page and "WELCOME-{random:8}" in page and "Import codes" not in page
    example = page.split('class="mono example-code">', 1)[1].split("<", 1)[0]
    assert example.startswith("WELCOME-") and len(example) == len("WELCOME-") + 8
    refused = await upload(http, "welcome", b"W-1\n")
    assert refused.status_code == 400 and "makes its codes from a template" in html.unescape(refused.text)
    assert (await give(http, "welcome", "ext:C-1")).startswith("Gave WELCOME-")


async def test_a_code_given_by_hand_goes_once_to_a_customer_and_an_empty_pool_alerts_staff(
    http: httpx.AsyncClient, core: Core
) -> None:
    await core.rewards.import_codes("sorry", "SORRY-1\n")
    given = await give(http, "sorry", "ext:C-1")
    assert given == "Gave SORRY-1 to customer #1 (Rita Lima). Pass it on to them: the console sends no message."
    again = await give(http, "sorry", "1", "Asked twice")
    assert again == "Nothing new given: customer #1 (Rita Lima) already has a code from this pool: SORRY-1."
    assert await give(http, "sorry", "ext:nobody") == "Not given: no customer 'ext:nobody'"
    assert (await give(http, "sorry", "Rita")).startswith("Not given: 'Rita' is not a customer reference")
    assert (await give(http, "sorry", "3", "   ")).startswith("Not given: say why the customer gets it")
    empty = await give(http, "sorry", "3")
    assert empty == "Nothing given: pool sorry is empty. Staff were alerted on #perks; import codes below."
    async with core.db.sessions() as session:
        alerts = (await session.execute(select(OutboxItem.payload).where(
            OutboxItem.kind == RewardKind.STAFF_ALERT))).scalars().all()  # fmt: skip
    (empty_alert,) = [a for a in alerts if "Reward pool `sorry` is empty" in a["text"]]
    assert empty_alert["channel"] == "#perks" and "/admin/rewards/sorry" in empty_alert["text"]

    lines = await core.rewards.given("sorry")
    assert [(line.code, line.customer_id, line.reason, line.given_by) for line in lines] == [
        ("SORRY-1", 1, "hand:Parcel arrived damaged", "ana")
    ]
    page = html.unescape((await http.get("/admin/rewards/sorry")).text)
    assert "by hand: Parcel arrived damaged" in page and "#1 Rita Lima" in page and "ext C-1" in page
    audit = (await http.get("/admin/audit?format=json")).json()["entries"]
    assert [(e["action"], e["target"]) for e in audit if e["action"] == "reward given by hand"] == [
        ("reward given by hand", "customer:1")
    ]


async def test_the_ledger_pages_filters_and_downloads_as_csv(http: httpx.AsyncClient, core: Core) -> None:
    async with core.db.transaction() as session:
        session.add_all([Customer(display_name=f"Customer {i}") for i in range(60)])
    for customer_id in range(1, 64):
        await core.rewards.give("welcome", customer_id, "flow:gift", "flow:gift")
    first = await core.rewards.given("welcome", customer_id=2)
    await core.rewards.redeem(first[0].code)

    page = html.unescape((await http.get("/admin/rewards/welcome")).text)
    assert "63 codes" in page and "page 1 of 2" in page and page.count('data-label="Code"') == 50
    assert "flow gift" in page and "Older" in page
    second = html.unescape((await http.get("/admin/rewards/welcome?page=2")).text)
    assert second.count('data-label="Code"') == 13 and "Newer" in second
    data = (await http.get("/admin/rewards/welcome?format=json&page=2")).json()
    assert (data["total"], data["page"], data["pages"], data["given"], data["redeemed"]) == (63, 2, 2, 63, 1)
    redeemed = html.unescape((await http.get("/admin/rewards/welcome?show=redeemed")).text)
    assert "1 code" in redeemed and first[0].code in redeemed and redeemed.count('data-label="Code"') == 1
    waiting = (await http.get("/admin/rewards/welcome?show=unredeemed&format=json")).json()
    assert waiting["total"] == 62

    download = await http.get("/admin/rewards/welcome?show=given&format=csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert 'filename="rewards-welcome-given.csv"' in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == 63 and rows[0]["why"] == "flow gift" and rows[0]["given_by"] == "flow:gift"
    by_customer = {row["customer_id"]: row for row in rows}
    assert by_customer["1"]["customer"] == "Rita Lima" and by_customer["1"]["external_id"] == "C-1"
    assert by_customer["2"]["customer"] == "'=HYPERLINK(1)"  # a spreadsheet shows it as text, not a formula
    assert by_customer["2"]["redeemed_at"] != "" and by_customer["3"]["redeemed_at"] == ""
    assert (await http.get("/admin/rewards/nope")).status_code == 404


async def test_a_viewer_reads_the_pools_but_cannot_import_or_give_nor_can_a_forged_form(site: str, core: Core) -> None:
    await core.rewards.import_codes("sorry", "SORRY-1\n")
    async with httpx.AsyncClient(base_url=site, timeout=20) as viewer:
        await sign_in(viewer, "vic")
        page = await viewer.get("/admin/rewards/sorry")
        assert page.status_code == 200 and "Apology voucher" in page.text
        assert "Import codes" not in page.text and "Give a code by hand" not in page.text
        assert "Edit pools" not in (await viewer.get("/admin/rewards")).text
        token = csrf_in(page.text)  # the sign-out form's
        imported = await viewer.post("/admin/rewards/sorry/import", data={"csrf": token},
                                     files={"file": ("c.csv", b"SORRY-9\n", "text/csv")})  # fmt: skip
        assert imported.status_code == 403 and "needs the editor role" in imported.text
        given = await viewer.post("/admin/rewards/sorry/give", data={"csrf": token, "customer": "1", "reason": "x"})
        assert given.status_code == 403
    async with httpx.AsyncClient(base_url=site, timeout=20) as editor:
        await sign_in(editor, "ana")
        forged = await editor.post("/admin/rewards/sorry/give", data={"customer": "1", "reason": "x"})  # no CSRF
        assert forged.status_code == 403 and "no valid CSRF token" in forged.text
    assert await core.rewards.given("sorry") == []
    assert [p.free for p in await core.rewards.pools() if p.name == "sorry"] == [1]


async def test_a_campaigns_reward_is_a_select_of_pools_and_is_kept_when_saved(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/campaigns/vip/edit")
    assert '<option value="sorry" selected>sorry</option>' in page.text and '<option value="spare">' in page.text
    form = {"csrf": csrf_in(page.text), "head": "1", "title": "A surprise", "kind": "thank_you", "enabled": "on",
            "audience.tiers": "standard", "content": "message", "message": "Thanks! {{ reward.code }}",
            "reward": "sorry", "buttons": "", "schedule": "", "at": "", "audience.tags": "", "audience.when": "",
            "audience.inactive_days": "", "repeat_after_days": "", "expire_after_hours": "", "flow": "",
            "action": "save"}  # fmt: skip
    saved = await http.post("/admin/campaigns/vip/edit", data={**form, "title": "A bigger surprise"})
    assert saved.status_code == 303, saved.text
    shown = html.unescape((await http.get("/admin/campaigns/vip")).text)
    assert "A bigger surprise" in shown and 'href="/admin/rewards/sorry"' in shown
    edit = await http.get("/admin/campaigns/vip/edit")
    assert '<option value="sorry" selected>sorry</option>' in edit.text

    refused = await http.post("/admin/campaigns/vip/edit", data={**form, "csrf": csrf_in(edit.text), "head": "2",
                                                                  "reward": "sory"})  # fmt: skip
    assert refused.status_code == 400
    assert 'unknown reward pool "sory" (did you mean "sorry"?)' in html.unescape(refused.text)
    with_flow = await http.post("/admin/campaigns/vip/edit", data={**form, "csrf": csrf_in(edit.text), "head": "2",
                                                                   "content": "flow", "flow": "nps"})  # fmt: skip
    assert with_flow.status_code == 400
    assert "reward goes with a message; a flow gives one with its own give_reward step" in html.unescape(
        with_flow.text.split('id="error-reward"', 1)[1]
    )
    no_reward = await http.post("/admin/campaigns/vip/edit", data={**form, "csrf": csrf_in(edit.text), "head": "2",
                                                                    "reward": ""})  # fmt: skip
    assert no_reward.status_code == 303
    assert "/admin/rewards/sorry" not in (await http.get("/admin/campaigns/vip")).text
