"""Signing in to the console over real HTTP, as a browser's forms would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bot.config import Settings
from bot.core import Core

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def add_account(settings: Settings, name: str, role: str) -> None:
    """As `engagebot admin add` does: through the core's accounts service, on the server's database."""
    core = Core(settings)
    try:
        await core.prepare_storage()
        await core.admin_accounts.add(name, role, PASSWORD)
    finally:
        await core.close()


def csrf_in(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/admin/login")
    return await http.post("/admin/login", data={"username": name, "password": password, "csrf": csrf_in(page.text)})


async def page_csrf(http: httpx.AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return csrf_in(response.text)


@asynccontextmanager
async def console_site(settings: Settings, **accounts: str) -> AsyncIterator[str]:
    """A real server on the settings' database with these accounts (name=role), at its URL."""
    from tests.handlers.test_webchat import serving

    for name, role in accounts.items():
        await add_account(settings, name, role)
    async with serving(settings) as url:
        yield url
