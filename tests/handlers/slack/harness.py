"""Helpers for the Slack tests: settings with SLACK_* env, the whole app served over HTTP against the Slack Web API
stand-in, and the staff side of Slack (what the channel shows, signed clicks, thread messages, the Resolve form)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from bot.config import Settings, load_settings
from bot.core import Core
from bot.tickets import records
from bot.tickets.models import Ticket, TicketEvent
from handlers.slack import SlackAdapter
from handlers.slack.blocks import CLAIM, COMPENSATION_INPUT, REASSIGN, RESOLUTION_INPUT, RESOLVE, RESOLVE_VIEW
from tests.support.botapi_standin import BotApiStandIn, serve_asgi
from tests.support.slack_standin import (
    Body,
    SlackApiStandIn,
    block_action,
    message_event,
    post_signed,
    static_select_action,
    view_submission,
)

TOKEN = "xoxb-test"
SECRET = "slack-signing-secret"
SUPPORT = "C0SUPPORT"
ANA, RUI, EVE = "U0ANA", "U0RUI", "U0EVE"  # Ana and Rui are staff (each the other's backup); Eve is not
STAFF = [
    {"key": "ana", "name": "Ana Lima", "slack_user_id": ANA, "backup": "rui"},
    {"key": "rui", "name": "Rui Costa", "slack_user_id": RUI, "backup": "ana"},
]
ROUTING = {"fallback": "ana"}


def slack_settings(
    tmp_path: Path, database_url: str, flows_dir: Path, api: SlackApiStandIn, *,
    telegram: BotApiStandIn | None = None, env: dict[str, str] | None = None, **sections: Any,
) -> Settings:  # fmt: skip
    """Settings as an operator writes them: config.yaml with staff, routing and the escalation channel, plus the
    SLACK_* (and, for a Telegram customer, TELEGRAM_*) variables."""
    data: dict[str, Any] = {
        "flows": {"dir": str(flows_dir), "hot_reload": False},
        "staff": STAFF,
        "routing": ROUTING,
        "slack": {"channels": {"default": SUPPORT}},
        **sections,
    }
    if telegram is not None:
        data["telegram"] = {"max_per_chat_per_second": 50, "chat_burst": 20}
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    variables = {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api.base_url,
    }
    if telegram is not None:
        variables.update(TELEGRAM_BOT_TOKEN="123456:TEST-token", TELEGRAM_API_URL=telegram.base_url)
    return load_settings(config, env={**variables, **(env or {})})


def new_stand_in() -> SlackApiStandIn:
    return SlackApiStandIn(
        users={ANA: "Ana Lima", RUI: "Rui Costa", EVE: "Eve Stone"}, channels={SUPPORT: "support"}, tokens=[TOKEN]
    )


@dataclass
class StaffSide:
    """Slack as the staff see and use it: the escalation channel, its threads, buttons and forms."""

    api: SlackApiStandIn
    app: Starlette
    url: str  # the app's /slack/events

    @property
    def core(self) -> Core:
        core: Core = self.app.state.core
        return core

    @property
    def adapter(self) -> SlackAdapter:
        adapter: SlackAdapter = self.app.state.slack
        return adapter

    async def send(self, body: Body, **options: Any) -> httpx.Response:
        answer = await post_signed(self.url, *body, SECRET, **options)
        return answer

    async def dispatch(self) -> None:
        """Run the outbox (as the scheduler tick would) and wait for work kicked by Slack actions."""
        await self.adapter.drainer.idle()
        await self.core.dispatcher.drain()
        await self.adapter.drainer.idle()

    # ---- what Slack shows ---------------------------------------------------------------------

    def roots(self, channel: str = SUPPORT) -> list[dict[str, Any]]:
        """Escalation messages (top-level posts with blocks) in `channel`."""
        return [p for p in self.api.posts(channel) if p["blocks"] and not p["thread_ts"]]

    def root(self, channel: str = SUPPORT) -> dict[str, Any]:
        (only,) = self.roots(channel)
        return only

    def thread(self, root: dict[str, Any]) -> list[str]:
        return [p["text"] for p in self.api.thread(root["channel_id"], root["ts"])]

    async def wait_thread(self, root: dict[str, Any], count: int, timeout: float = 5) -> list[str]:  # noqa: ASYNC109
        await self.api.wait_for(lambda: len(self.thread(root)) >= count, timeout)
        return self.thread(root)

    def shown(self, root: dict[str, Any]) -> dict[str, Any]:
        """The escalation message as it is now (chat.update applied)."""
        message = self.api.message(root["channel_id"], root["ts"])
        assert message is not None
        return message

    # ---- what staff do ------------------------------------------------------------------------

    async def press(self, user: str, action_id: str, root: dict[str, Any], **options: Any) -> httpx.Response:
        message = self.shown(root)
        ref = _button_value(message, action_id)
        body = block_action(user, action_id, ref, root["channel_id"], root["ts"], message=message, **options)
        return await self.send(body)

    async def claim(self, user: str, root: dict[str, Any]) -> httpx.Response:
        return await self.press(user, CLAIM, root)

    async def reassign(self, user: str, root: dict[str, Any], to_key: str) -> httpx.Response:
        message = self.shown(root)
        ref = _button_value(message, CLAIM)
        body = static_select_action(user, REASSIGN, f"{ref}:{to_key}", root["channel_id"], root["ts"], message=message)
        return await self.send(body)

    async def open_resolve(self, user: str, root: dict[str, Any]) -> dict[str, Any]:
        opened = len(self.api.views_opened)
        answer = await self.press(user, RESOLVE, root, trigger_id=f"t-{opened}")
        assert answer.status_code == 200
        await self.api.wait_for(lambda: len(self.api.views_opened) > opened)
        return self.api.views_opened[-1]

    async def submit_resolve(
        self, user: str, view: dict[str, Any], resolution: str, compensation: str = ""
    ) -> httpx.Response:
        values = {RESOLUTION_INPUT[0]: {RESOLUTION_INPUT[1]: resolution},
                  COMPENSATION_INPUT[0]: {COMPENSATION_INPUT[1]: compensation}}  # fmt: skip
        return await self.send(view_submission(user, RESOLVE_VIEW, state_values=values, view=view))

    async def write(self, user: str, text: str, root: dict[str, Any], **options: Any) -> httpx.Response:
        """A message in the ticket's thread."""
        return await self.send(message_event(root["channel_id"], user, text, thread_ts=root["ts"], **options))

    # ---- what the database holds --------------------------------------------------------------

    async def ticket(self, ref: str = "C-1001") -> Ticket:
        async with self.core.db.sessions() as session:
            found = await records.get_by_ref(session, ref)
            assert found is not None
            return found

    async def events(self, ref: str = "C-1001") -> list[tuple[str, str, str]]:
        ticket = await self.ticket(ref)
        async with self.core.db.sessions() as session:
            query = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
            return [(e.kind, e.actor, e.body) for e in (await session.execute(query)).scalars()]


def _button_value(message: dict[str, Any], action_id: str) -> str:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button on the message")


@asynccontextmanager
async def running(
    app: Starlette, api: SlackApiStandIn, telegram: BotApiStandIn | None = None
) -> AsyncIterator[StaffSide]:
    """The app with its lifespan (core + adapters) served over HTTP; yields the staff side of Slack."""
    async with app.router.lifespan_context(app), serve_asgi(app) as url:
        if telegram is not None:
            await telegram.wait_for(lambda: telegram.calls("getUpdates"), timeout=10)  # a long poll is waiting
        yield StaffSide(api, app, f"{url}/slack/events")


async def eventually(predicate: Any, timeout: float = 5) -> Any:  # noqa: ASYNC109
    """Poll `predicate` (sync or async) until it returns something truthy; return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn text in Block Kit `node` (what Slack parses for mentions; plain_text is shown as written)."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in mrkdwn_texts(value)]
    return []
