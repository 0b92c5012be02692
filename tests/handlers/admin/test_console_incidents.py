"""The incident pages over real HTTP: an editor opens an incident with the form (refused with the reason when the
audience is empty), reads who was affected, posts an update and resolves it; a viewer reads but has no forms."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from tests.conftest import make_settings
from tests.handlers.admin.support import add_account, csrf_in, sign_in
from tests.handlers.test_webchat import serving

FORM = {"title": "Card payments failing", "what_happened": "Card payments fail at checkout.",
        "what_we_do": "Our provider is fixing it.", "next_update": "2h", "severity": "high"}  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, sqlite_url, flows_dir)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}"


@pytest.fixture
async def base(settings: Settings) -> AsyncIterator[str]:
    await add_account(settings, "ana", "editor")
    await add_account(settings, "vic", "viewer")
    async with serving(settings) as url:
        yield url


async def test_an_editor_opens_updates_and_resolves_an_incident(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        await sign_in(http, "ana")
        await http.post("/chat/api/messages", json={"visitor": "visitor-aaaaaaaaaaaa1", "text": "hi"})
        listing = await http.get("/admin/incidents")
        assert listing.status_code == 200 and "Open an incident" in listing.text and "No incidents yet." in listing.text
        refused = await http.post("/admin/incidents", data={**FORM, "csrf": csrf_in(listing.text)})
        assert refused.headers["location"] == "/admin/incidents"
        assert "Not opened: audience: say who is affected" in html.unescape((await http.get("/admin/incidents")).text)

        opened = await http.post("/admin/incidents", data={**FORM, "tiers": "standard", "csrf": csrf_in(listing.text)})
        assert opened.status_code == 303 and opened.headers["location"] == "/admin/incidents/1"
        page = html.unescape((await http.get("/admin/incidents/1")).text)
        assert "Opened: 1 customers affected, the notice is queued for 1." in page
        assert "Card payments fail at checkout." in page and "tiers standard" in page and "Keep them posted" in page

        update = await http.post("/admin/incidents/1/updates", data={"text": "PayPal works.", "csrf": csrf_in(page)})
        assert update.status_code == 303
        page = html.unescape((await http.get("/admin/incidents/1")).text)
        assert "Update posted: queued for 1 customers." in page and "PayPal works." in page
        await http.post("/admin/incidents/1/updates", data={"text": "Fixed.", "resolve": "yes", "csrf": csrf_in(page)})
        page = html.unescape((await http.get("/admin/incidents/1")).text)
        assert "resolved" in page and "Keep them posted" not in page
        assert "#1" in (await http.get("/admin/incidents")).text
        assert (await http.get("/admin/incidents/7")).status_code == 404

    async with httpx.AsyncClient(base_url=base, timeout=20) as viewer:
        await sign_in(viewer, "vic")
        listing = await viewer.get("/admin/incidents")
        assert "Card payments failing" in listing.text and "Open an incident" not in listing.text
        denied = await viewer.post("/admin/incidents", data={**FORM, "all": "yes", "csrf": csrf_in(listing.text)})
        assert denied.status_code == 403
