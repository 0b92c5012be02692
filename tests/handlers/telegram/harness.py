"""Helpers for the Telegram tests: settings with TELEGRAM_* env, the app running against the Bot API stand-in,
and a customer who talks to the bot the way a Telegram user would (typing, pressing buttons)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.config import Settings, load_settings
from bot.core import Core
from bot.customers.models import ChannelIdentity, Customer
from bot.outbox.models import OutboxItem
from tests.conftest import FixedClock
from tests.support.botapi_standin import BotApiStandIn, serve_asgi

T = TypeVar("T")
TOKEN = "123456:TEST-token"
SECRET = "webhook_Secret-123"
MENU = "How can I help? Choose an option below or just type what you need."


def tg_settings(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, *, mode: str = "polling",
    **sections: dict[str, Any],
) -> Settings:  # fmt: skip
    """Settings as an operator writes them: config.yaml plus the TELEGRAM_* variables in the environment."""
    data: dict[str, Any] = {"flows": {"dir": str(flows_dir), "hot_reload": False}, **sections}
    data.setdefault("outreach", {"tick_seconds": 0.2})
    # Conversations here go faster than a person types; the per-chat limit (1/s after a burst of 3) is tested on
    # its own, elsewhere it would only add seconds of waiting.
    data["telegram"] = {"max_per_chat_per_second": 50, "chat_burst": 20, **data.get("telegram", {})}
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    env = {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.base_url,
        "TELEGRAM_MODE": mode,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }
    return load_settings(config, env=env)


@asynccontextmanager
async def running(app: Starlette, api: BotApiStandIn) -> AsyncIterator[str]:
    """The app with its lifespan (core + Telegram adapter), served over HTTP; yields its base URL once the bot
    is listening (polling: first getUpdates; webhook: setWebhook done)."""
    async with app.router.lifespan_context(app), serve_asgi(app) as url:
        if app.state.telegram.mode == "webhook":
            await api.wait_for(lambda: api.webhook is not None, timeout=10)
        else:
            await api.wait_for(lambda: api.calls("getUpdates"), timeout=10)  # a long poll is waiting
        yield url


def core_of(app: Starlette) -> Core:
    core: Core = app.state.core
    return core


async def settle(core: Core, clock: FixedClock, *, rounds: int = 6, step: float = 2.0) -> None:
    """Let time pass on the fixed clock and run the dispatcher, until retries and held replies are out."""
    for _ in range(rounds):
        clock.advance(seconds=step)
        await core.dispatcher.drain()


async def unfinished_outbox(core: Core) -> int:
    from bot.outbox.models import LEASED, PENDING

    async with core.db.sessions() as session:
        query = select(func.count()).select_from(OutboxItem).where(OutboxItem.status.in_((PENDING, LEASED)))
        return int((await session.execute(query)).scalar_one())


async def customer_of(core: Core, chat_id: int) -> Customer | None:
    async with core.db.sessions() as session:
        query = (
            select(Customer)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
            .where(ChannelIdentity.channel == "telegram", ChannelIdentity.address == str(chat_id))
        )
        return (await session.execute(query)).scalar_one_or_none()


async def customer_count(core: Core) -> int:
    async with core.db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Customer))).scalar_one())


@dataclass
class TgUser:
    """One Telegram user in a private chat with the bot, as the stand-in sees them."""

    api: BotApiStandIn
    chat_id: int
    first_name: str = "Ana"

    def messages(self) -> list[str]:
        return self.api.messages_to(self.chat_id)

    def sends(self) -> list[dict[str, Any]]:
        """Successful sendMessage records to this chat, in order."""
        return [r for r in self.calls("sendMessage") if r["ok"]]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.api.calls(method) if str(r.get("chat_id")) == str(self.chat_id)]

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        return self.api.push_update(update)

    def say_update(self, text: str) -> dict[str, Any]:
        return self.api.text_update(self.chat_id, text, first_name=self.first_name)

    async def say(self, text: str, expect: int, timeout: float = 10) -> list[str]:  # noqa: ASYNC109
        """Type `text`; wait for `expect` new messages and return them."""
        seen = len(self.messages())
        self.push(self.say_update(text))
        return await self.expect(seen, expect, timeout)

    async def expect(self, seen: int, count: int, timeout: float = 10) -> list[str]:  # noqa: ASYNC109
        got = await self.api.wait_for_messages(self.chat_id, seen + count, timeout=timeout)
        return got[seen:]

    def button(self, label: str) -> tuple[int, str]:
        """(message_id, callback_data) of the latest sent message showing a button labelled `label`."""
        for record in reversed(self.sends()):
            markup = record.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label:
                        return record["result"]["message_id"], button["callback_data"]
        raise AssertionError(f"no button {label!r} was sent to {self.chat_id}")

    def press_update(self, label: str) -> dict[str, Any]:
        message_id, data = self.button(label)
        return self.api.callback_update(self.chat_id, message_id, data, first_name=self.first_name)

    async def press(self, label: str, expect: int, timeout: float = 10) -> list[str]:  # noqa: ASYNC109
        seen = len(self.messages())
        self.push(self.press_update(label))
        return await self.expect(seen, expect, timeout)

    async def quiet(self) -> None:
        """Prove that everything pushed so far was handled: polling handles updates in order, so once the menu
        asked for now is shown, earlier updates are done. Adds exactly one message (the menu)."""
        shown = self.messages().count(MENU)
        self.push(self.say_update("menu"))
        await self.api.wait_for(lambda: self.messages().count(MENU) > shown, timeout=10)


async def eventually(probe: Callable[[], Awaitable[T]], expected: T, timeout: float = 10) -> None:  # noqa: ASYNC109
    """Wait until the awaited `probe()` equals `expected` (for database state the stand-in cannot see)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await probe()) != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {value!r}, expected {expected!r}")
        await asyncio.sleep(0.02)
