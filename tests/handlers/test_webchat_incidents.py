"""An incident through the web chat over real HTTP: the CRM opens it with the API, the affected visitor reads the
notice in the chat (once), the other visitor nothing; the affected visitor's complaint hears its status first."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import select, update

from bot.config import load_settings
from bot.core import Core
from bot.customers.models import ChannelIdentity, Customer
from handlers.server import build_app
from tests.conftest import FixedClock
from tests.support.botapi_standin import serve_asgi

KEY = "webchat-incidents-key-0123"
ANA, RUI = "visitor_aaaaaaaaaaaaaaaa", "visitor_bbbbbbbbbbbbbbbb"


async def say(http: httpx.AsyncClient, visitor: str, **body: str) -> list[str]:
    answer = await http.post("/chat/api/messages", json={"visitor": visitor, **body})
    assert answer.status_code == 200, answer.text
    return [reply["text"] for reply in answer.json()["replies"]]


async def press(http: httpx.AsyncClient, visitor: str, label: str) -> list[str]:
    messages = (await http.get("/chat/api/messages", params={"visitor": visitor})).json()["messages"]
    value = next(b["value"] for m in reversed(messages) for b in m.get("buttons", []) if b["label"] == label)
    return await say(http, visitor, choice=value)


async def shown(http: httpx.AsyncClient, visitor: str) -> list[str]:
    messages = (await http.get("/chat/api/messages", params={"visitor": visitor})).json()["messages"]
    return [m["text"] for m in messages if m["direction"] == "out"]


async def tag(core: Core, visitor: str, name: str) -> None:
    """The business tags the customer (as an import or the console would)."""
    async with core.db.transaction() as session:
        identity = select(ChannelIdentity.customer_id).where(ChannelIdentity.address == visitor)
        customer_id = (await session.execute(identity)).scalar_one()
        await session.execute(update(Customer).where(Customer.id == customer_id).values(tags=[name]))


async def test_the_affected_visitor_reads_the_notice_and_her_complaint_hears_the_status_first(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    config = tmp_path / "config.yaml"
    staff = {"staff": [{"key": "ana", "name": "Ana Lima"}], "routing": {"fallback": "ana"}}
    config.write_text(json.dumps({"flows": {"dir": str(flows_dir), "hot_reload": False}, **staff}))
    settings = load_settings(config, env={"DATABASE_URL": database_url, "ENGAGEBOT_API_KEY": KEY})
    app = build_app(settings, clock=clock, background=False)
    async with app.router.lifespan_context(app), serve_asgi(app) as url:
        core: Core = app.state.core
        async with httpx.AsyncClient(base_url=url, timeout=10, headers={"X-API-Key": KEY}) as http:
            for visitor in (ANA, RUI):
                await say(http, visitor, text="hi")
            await tag(core, ANA, "leeds")
            opened = await http.post("/api/incidents", json={
                "title": "Late deliveries from Leeds", "what_happened": "A storm closed our Leeds warehouse.",
                "what_we_do": "Your orders are moving to Manchester.", "audience": {"tags": ["leeds"]},
            })  # fmt: skip
            assert opened.status_code == 201 and opened.json()["affected"] == 1
            await core.dispatcher.drain()
            await core.dispatcher.drain()
            notices = [t for t in await shown(http, ANA) if t.startswith("⚠️")]
            assert notices == ["⚠️ Late deliveries from Leeds\nA storm closed our Leeds warehouse.\n"
                               "What we are doing: Your orders are moving to Manchester."]  # fmt: skip
            assert not [t for t in await shown(http, RUI) if t.startswith("⚠️")]

            await say(http, ANA, text="I want to complain")
            await say(http, ANA, text="My parcel is late")
            await press(http, ANA, "Order & delivery")
            await press(http, ANA, "Skip")
            said = await press(http, ANA, "Quite a lot")
            assert said[0].startswith("We know about this: Late deliveries from Leeds (open).")
            assert "Your reference is C-1001" in said[1]
