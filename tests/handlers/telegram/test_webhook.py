"""The Telegram adapter in webhook mode: setWebhook at start, the secret header checked on every POST, updates
stored before the 200 (so Telegram delivers again after an error) and answered after it, duplicates answered once."""

from __future__ import annotations

from pathlib import Path

import httpx

from handlers.server import build_app
from tests.conftest import FixedClock
from tests.handlers.telegram.harness import SECRET, TgUser, core_of, customer_count, running, tg_settings
from tests.support.botapi_standin import BotApiStandIn

PUBLIC = "https://bot.example.com"
WELCOME = "Hi Ana, welcome to"
USE_CASE = "So we can help you better, what will you mainly use us for?"


async def test_webhook_mode_registers_checks_the_secret_and_answers_once(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    settings = tg_settings(tmp_path, database_url, flows_dir, api, mode="webhook", server={"public_url": PUBLIC})
    app = build_app(settings, clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api) as url:
        hook = f"{url}/telegram/webhook"
        assert api.webhook is not None
        assert api.webhook["url"] == f"{PUBLIC}/telegram/webhook"
        assert api.webhook["secret_token"] == SECRET
        assert set(api.webhook["allowed_updates"]) == {"message", "edited_message", "callback_query", "my_chat_member"}
        assert api.webhook["max_connections"] == 16  # telegram.concurrent_updates, as polling handles at once

        # Wrong or missing secret: refused, nothing handled.
        for secret in ("wrong-secret", None, SECRET + "x", ""):
            response = await api.post_webhook(ana.say_update("hi"), secret, url=hook)
            assert response.status_code == 403, secret
        # Not an update at all.
        async with httpx.AsyncClient(timeout=10) as client:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
            for body in (b"{not json", b"null", b"[1, 2]", b'"hello"', b"{}"):
                response = await client.post(hook, content=body, headers=headers)
                assert response.status_code == 400, body
        assert ana.messages() == [] and await customer_count(core_of(app)) == 0

        # The right secret: stored before the 200, answered right after it.
        update = ana.say_update("hi")
        response = await api.post_webhook(update, SECRET, url=hook)
        assert response.status_code == 200
        assert await customer_count(core_of(app)) == 1
        welcome, asked = await ana.expect(0, 2)
        assert welcome.startswith(WELCOME) and asked == USE_CASE

        # Telegram delivers the same update again (e.g. our 200 was lost): acknowledged, not answered again.
        again = await api.post_webhook(update, SECRET, url=hook)
        assert again.status_code == 200
        assert len(ana.messages()) == 2

        # Buttons work the same way.
        response = await api.post_webhook(ana.press_update("For my work"), SECRET, url=hook)
        assert response.status_code == 200
        (check_in,) = await ana.expect(2, 1)
        assert check_in.startswith("Can I check in with you a few times")
        assert api.calls("answerCallbackQuery") and api.calls("editMessageText")[0]["text"].endswith("» For my work")
    assert api.calls("getUpdates") == []  # no polling in webhook mode
    assert await customer_count(core_of(app)) == 1


async def test_in_polling_mode_there_is_no_webhook_route(tmp_path: Path, flows_dir: Path, api: BotApiStandIn) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    app = build_app(tg_settings(tmp_path, url, flows_dir, api), background=False)  # polling
    async with running(app, api) as base:
        async with httpx.AsyncClient(timeout=10) as client:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            update = TgUser(api, 42).say_update("hi")
            response = await client.post(f"{base}/telegram/webhook", json=update, headers=headers)
        assert response.status_code in (404, 405)
    assert api.webhook is None


async def test_an_answer_sent_while_the_question_is_still_going_out_is_answered_at_once(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn
) -> None:
    settings = tg_settings(tmp_path, database_url, flows_dir, api, mode="webhook", server={"public_url": PUBLIC})
    app = build_app(settings, background=False)  # no dispatcher: a reply left to it would never come
    ana = TgUser(api, 42)
    async with running(app, api) as url:
        hook = f"{url}/telegram/webhook"
        api.delay_next("sendMessage", 0.5, count=2)  # Telegram is slow to take the welcome and the question
        assert (await api.post_webhook(ana.say_update("hi"), SECRET, url=hook)).status_code == 200
        assert ana.messages() == []  # stored and acknowledged; the replies are still on their way
        # Ana types her answer before the question has even arrived.
        assert (await api.post_webhook(ana.say_update("For my work"), SECRET, url=hook)).status_code == 200
        welcome, asked, check_in = await ana.expect(0, 3)
    assert welcome.startswith(WELCOME) and asked == USE_CASE
    assert check_in.startswith("Can I check in with you a few times")
