"""Fixtures for the retention playbook's end-to-end tests: the Slack and Telegram stand-ins (as the Slack tests use
them), and the HTTP API with its key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core import Core
from bot.messages import ChannelRef
from handlers.server import build_app
from tests.conftest import FixedClock
from tests.handlers.slack.conftest import slack, telegram  # noqa: F401  (the stand-ins, shared)
from tests.handlers.slack.harness import StaffSide, running, slack_settings
from tests.handlers.telegram.harness import TgUser
from tests.support.botapi_standin import BotApiStandIn
from tests.support.slack_standin import SlackApiStandIn

KEY = "k3y-For-the-retention-API-0123"


@dataclass
class Shop:
    """The whole app as the business runs it: staff in Slack, customers in Telegram, the CRM on the API."""

    staff: StaffSide
    api: httpx.AsyncClient
    clock: FixedClock
    telegram: BotApiStandIn

    def customer(self, chat_id: int, first_name: str) -> TgUser:
        return TgUser(self.telegram, chat_id, first_name=first_name)

    async def transcript(self, address: int | str, channel: str = "telegram") -> list[str]:
        """The chat as stored, both ways ("> " the customer, "< " the bot), pressed buttons by their labels."""
        entries = await self.core.transcripts.after(ChannelRef(channel, str(address)), 0, limit=500)
        return [f"{'>' if e.direction == 'in' else '<'} {e.text}" for e in entries]

    @property
    def core(self) -> Core:
        return self.staff.core

    async def event(self, name: str, external_id: str, chat_id: int | None = None, **data: Any) -> dict[str, Any]:
        customer: dict[str, Any] = {"external_id": external_id}
        if chat_id is not None:
            customer["telegram_chat_id"] = str(chat_id)
        answer = await self.api.post("/api/events", json={"event": name, "customer": customer, "data": data})
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    async def tick(self, **delta: float) -> None:
        """Time passes; the leader's retention work and the outbox run, as the scheduler would."""
        if delta:
            self.clock.advance(**delta)
        await self.core.retention.take_events()
        await self.core.retention.plan_crosssell()
        await self.core.retention.plan_resurvey()
        await self.staff.dispatch()


@pytest.fixture
def open_shop(
    tmp_path: Path, database_url: str, flows_dir: Path, slack: SlackApiStandIn, telegram: BotApiStandIn,  # noqa: F811
    clock: FixedClock,
):  # type: ignore[no-untyped-def]  # fmt: skip
    @asynccontextmanager
    async def open_(**sections: Any) -> AsyncIterator[Shop]:
        settings = slack_settings(tmp_path, database_url, flows_dir, slack, telegram=telegram,
                                  env={"ENGAGEBOT_API_KEY": KEY}, **sections)  # fmt: skip
        app = build_app(settings, clock=clock, background=False)
        async with running(app, slack, telegram) as staff:
            base = staff.url.removesuffix("/slack/events")
            headers = {"Authorization": f"Bearer {KEY}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
                yield Shop(staff, api, clock, telegram)

    return open_
