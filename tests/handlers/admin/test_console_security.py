"""The console's doors, over real HTTP on SQLite and PostgreSQL: off until an account exists, sign-in with a CSRF
field, the session cookie's flags, CSRF on every POST, roles, the sign-in rate limit, and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.config import Settings
from tests.handlers.admin.support import PASSWORD, add_account, csrf_in, page_csrf, sign_in
from tests.handlers.test_webchat import serving


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[str]:
    async with serving(settings) as url:
        yield url


@pytest.fixture
async def http(site: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site, timeout=20) as client:
        yield client


async def test_the_console_is_off_with_a_clear_page_until_an_account_exists(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    off = await http.get("/admin/flows")
    assert off.status_code == 404
    assert "engagebot admin add" in off.text

    await add_account(settings, "ana", "admin")
    answer = await http.get("/admin/flows")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=/admin/flows"
    login = await http.get("/admin/login")
    assert 'name="username"' in login.text and 'name="password"' in login.text
    assert 'type="hidden" name="csrf"' in login.text


async def test_signing_in_sets_an_httponly_samesite_session_cookie_and_opens_the_pages(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    await add_account(settings, "ana", "admin")
    answer = await sign_in(http, "ana")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/flows"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("engagebot_admin="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http here; behind an https proxy it is Secure (next test)
    flows = await http.get("/admin/flows")
    assert flows.status_code == 200
    assert "nps" in flows.text and "ana" in flows.text


async def test_behind_an_https_proxy_the_cookie_is_secure(http: httpx.AsyncClient, settings: Settings) -> None:
    await add_account(settings, "ana", "admin")
    https = {"X-Forwarded-Proto": "https"}  # from 127.0.0.1: a trusted proxy by uvicorn's default
    page = await http.get("/admin/login", headers=https)
    login_cookie = page.cookies["engagebot_admin_login"]  # Secure: the client would not send it over plain http
    answer = await http.post("/admin/login", headers={**https, "Cookie": f"engagebot_admin_login={login_cookie}"},
                             data={"username": "ana", "password": PASSWORD, "csrf": csrf_in(page.text)})  # fmt: skip
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("engagebot_admin="))
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_a_wrong_password_is_refused_and_repeated_failures_are_rate_limited(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    await add_account(settings, "ana", "admin")
    unknown = await sign_in(http, "nobody", PASSWORD)
    assert unknown.status_code == 401 and "Wrong name or password" in unknown.text  # the same answer as below
    answers = [await sign_in(http, "ana", "wrong password") for _ in range(5)]
    assert {a.status_code for a in answers} == {401}
    assert "Wrong name or password" in answers[0].text
    limited = await sign_in(http, "ana", PASSWORD)  # even the right password waits now
    assert limited.status_code == 429
    assert "Too many failed sign-ins" in limited.text


async def test_the_login_form_needs_its_csrf_field(http: httpx.AsyncClient, settings: Settings) -> None:
    await add_account(settings, "ana", "admin")
    await http.get("/admin/login")
    answer = await http.post("/admin/login", data={"username": "ana", "password": PASSWORD})
    assert answer.status_code == 403


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    await add_account(settings, "ana", "admin")
    await sign_in(http, "ana")
    before = (await http.get("/admin/flows/nps/texts")).text
    refused = await http.post("/admin/flows/nps/texts", data={"text:steps.0.ask": "Hacked?", "head": "1"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    wrong = await http.post("/admin/flows/nps/texts",
                            data={"text:steps.0.ask": "Hacked?", "head": "1", "csrf": "not-the-token"})  # fmt: skip
    assert wrong.status_code == 403
    assert (await http.get("/admin/flows/nps/texts")).text.count("Hacked?") == 0
    assert "Hacked" not in before


async def test_a_viewer_reads_but_cannot_edit_and_only_an_admin_manages_accounts(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    await add_account(settings, "ana", "admin")
    await add_account(settings, "vic", "viewer")
    await sign_in(http, "vic")
    texts = await http.get("/admin/flows/nps/texts")
    assert texts.status_code == 200 and "readonly" in texts.text and ">Publish<" not in texts.text
    token = csrf_in(texts.text)
    edit = await http.post("/admin/flows/nps/texts", data={"text:steps.0.ask": "Changed?", "head": "1", "csrf": token})
    assert edit.status_code == 403 and "editor role" in edit.text
    assert (await http.get("/admin/accounts")).status_code == 403
    assert (await http.get("/admin/flows/new")).status_code == 403


async def test_an_admin_adds_and_removes_accounts_and_the_audit_log_says_who_did_it(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    await add_account(settings, "ana", "admin")
    await sign_in(http, "ana")
    token = await page_csrf(http, "/admin/accounts")
    added = await http.post("/admin/accounts", data={"name": "eve", "role": "editor", "password": "long enough pw",
                                                     "csrf": token})  # fmt: skip
    assert added.status_code == 303
    accounts = await http.get("/admin/accounts")
    assert "eve" in accounts.text and "Account eve added." in accounts.text
    short = await http.post("/admin/accounts", data={"name": "bob", "role": "viewer", "password": "short",
                                                     "csrf": token})  # fmt: skip
    assert short.status_code == 400 and "at least 8 characters" in short.text
    removed = await http.post("/admin/accounts/eve/remove", data={"csrf": token})
    assert removed.status_code == 303
    log = (await http.get("/admin/audit?format=json")).json()["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in log[:2]] == [("ana", "account removed", "eve"),
                                                                        ("ana", "account added", "eve")]  # fmt: skip


async def test_signing_out_ends_the_session(http: httpx.AsyncClient, settings: Settings) -> None:
    await add_account(settings, "ana", "admin")
    await sign_in(http, "ana")
    token = await page_csrf(http, "/admin/flows")
    cookie = http.cookies.get("engagebot_admin")
    await http.post("/admin/logout", data={"csrf": token})
    http.cookies.set("engagebot_admin", cookie or "", path="/admin")  # a copy of the old cookie opens nothing
    assert (await http.get("/admin/flows")).status_code == 303


async def test_sign_in_redirects_only_within_the_console(http: httpx.AsyncClient, settings: Settings) -> None:
    await add_account(settings, "ana", "admin")
    page = await http.get("/admin/login?next=//evil.example/x")
    answer = await http.post("/admin/login", data={"username": "ana", "password": PASSWORD,
                                                   "csrf": csrf_in(page.text), "next": "//evil.example/x"})  # fmt: skip
    assert answer.headers["location"] == "/admin/flows"


async def test_the_body_limit_applies_to_the_console(http: httpx.AsyncClient, settings: Settings) -> None:
    await add_account(settings, "ana", "admin")
    answer = await http.post("/admin/login", content=b"x" * (2 * 1024 * 1024),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 413
