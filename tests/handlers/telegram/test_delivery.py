"""Getting replies to Telegram through its failures and limits: 429 (short and long), 403 blocked, 5xx and
timeouts, and the sending limits. The app runs on a fixed clock without the background tick, so the test lets
time pass and runs the dispatcher itself (`settle`); retries then take no real waiting."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.outbox.models import OutboxItem
from handlers.server import build_app
from tests.conftest import FixedClock
from tests.handlers.telegram import harness
from tests.handlers.telegram.harness import TgUser, core_of, customer_of, running, settle, tg_settings
from tests.support.botapi_standin import BotApiStandIn

# PTB itself warns when it builds a RetryAfter from a 429 (its int form is deprecated); ours reads both forms.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

WELCOME = "Hi Ana, welcome to"
USE_CASE = "So we can help you better, what will you mainly use us for?"
CHECKINS = "Can I check in with you a few times over the next month"


def shape(messages: list[str]) -> list[str]:
    """Each message as the known prefix it starts with, for readable order assertions."""
    known = (WELCOME, USE_CASE, CHECKINS)
    return [next((k for k in known if m.startswith(k)), m) for m in messages]


async def test_a_short_flood_wait_is_waited_out_and_the_reply_arrives_once(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        api.fail_next("sendMessage", 429, retry_after=1)
        assert shape(await ana.say("hi", 2)) == [WELCOME, USE_CASE]
        assert api.too_many_requests == 1
        # Sent inline and marked done: nothing left for the dispatcher.
        await harness.eventually(lambda: harness.unfinished_outbox(core_of(app)), 0)
        await settle(core_of(app), clock)
        await ana.quiet()
    assert shape(ana.messages()[:2]) == [WELCOME, USE_CASE] and len(ana.messages()) == 3


async def test_a_long_flood_wait_goes_to_the_outbox_and_later_replies_wait_their_turn(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    settings = tg_settings(tmp_path, database_url, flows_dir, api, telegram={"max_inline_retry_seconds": 2})
    app = build_app(settings, clock=clock, background=False)
    core = core_of(app)
    ana = TgUser(api, 42)
    async with running(app, api):
        api.fail_next("sendMessage", 429, retry_after=30)
        ana.push(ana.say_update("hi"))
        await api.wait_for(lambda: api.too_many_requests == 1)
        ana.push(ana.say_update("Just for me"))  # answered while the welcome is still undelivered
        await harness.eventually(lambda: harness.unfinished_outbox(core), 2)
        await core.dispatcher.drain()
        clock.advance(seconds=29)
        await core.dispatcher.drain()  # retry_after is honoured: not yet
        assert ana.messages() == []
        clock.advance(seconds=2)
        await settle(core, clock)
        assert shape(ana.messages()) == [WELCOME, USE_CASE, CHECKINS]  # in order, each once
        assert api.too_many_requests == 1
        assert await harness.unfinished_outbox(core) == 0


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable_without_a_retry_storm(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    core = core_of(app)
    ana = TgUser(api, 42)
    async with running(app, api):
        await ana.say("hi", 2)
        await ana.say("Just for me", 1)
        await ana.press("Yes", 1)
        assert await ana.say("skip", 1) == ["Thanks, that's all for now. I'll check in with you tomorrow."]
        api.block_chat(42)
        clock.advance(days=1, minutes=1)  # the day-1 check-in is due
        await core.dispatcher.drain()
        for _ in range(5):
            clock.advance(hours=12)
            await core.dispatcher.drain()
    refused = [r for r in ana.calls("sendMessage") if r["status"] == 403]
    assert len(refused) == 1  # one try, then never again
    customer = await customer_of(core, 42)
    assert customer is not None and customer.unreachable is True
    assert await harness.unfinished_outbox(core) == 0


async def test_server_errors_are_retried_from_the_outbox_in_order_and_delivered_once(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    core = core_of(app)
    ana = TgUser(api, 42)
    async with running(app, api):
        api.fail_next("sendMessage", 500)
        ana.push(ana.say_update("hi"))
        await api.wait_for(lambda: ana.calls("sendMessage"))
        ana.push(ana.say_update("Just for me"))
        ana.push(ana.say_update("menu"))
        # All three handled; their replies wait in line behind the undelivered welcome.
        await harness.eventually(lambda: harness.unfinished_outbox(core), 3)
        assert ana.messages() == []
        api.fail_next("sendMessage", 502)  # the first retry fails as well
        await settle(core, clock, rounds=12)
        assert shape(ana.messages()) == [WELCOME, USE_CASE, CHECKINS, harness.MENU]  # in order, each once
        assert [r["status"] for r in ana.calls("sendMessage")][:2] == [500, 502]
        assert await harness.unfinished_outbox(core) == 0
        async with core.db.sessions() as session:
            statuses = (await session.execute(select(OutboxItem.status))).scalars().all()
        assert set(statuses) == {"done"}


async def test_a_timed_out_send_is_retried_and_nothing_is_lost_or_reordered(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    """A timeout leaves it unknown whether Telegram delivered the message (the Bot API has no idempotency key):
    the stand-in, like the real API, carries the call out after the client gave up. The bot retries, so the
    customer may see that one message twice (at least once), but never a later one before it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    app = build_app(tg_settings(tmp_path, url, flows_dir, api), clock=clock, background=False)
    core = core_of(app)
    # The default read timeout is 5 s; a short one keeps the test fast.
    app.state.telegram.application.bot.request.read_timeout = 0.3
    ana = TgUser(api, 42)
    async with running(app, api):
        api.delay_next("sendMessage", 0.8)
        ana.push(ana.say_update("hi"))
        await api.wait_for(lambda: ana.calls("sendMessage") and ana.calls("sendMessage")[0]["ok"], timeout=5)
        assert shape(ana.messages()) == [WELCOME]  # the late original; the bot saw a timeout
        await settle(core, clock)
        assert shape(ana.messages()) == [WELCOME, WELCOME, USE_CASE]
        assert await harness.unfinished_outbox(core) == 0


async def test_a_burst_to_many_chats_stays_within_telegrams_limits(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    """40 customers write at once and one of them writes three times: about 85 messages must go out without a
    single 429. The stand-in allows 30/s overall and 1/s per chat plus a burst of 2, in sliding one-second windows.
    Our per-chat limiter lets `chat_burst` go at once and then 1/s, so chat_burst 2 stays within 1+2 per second
    (3 would put a 4th message at the edge of the window)."""
    api.enforce_limits(global_per_second=30, per_chat_per_second=1, burst=2)
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    limits = {"max_per_second": 30, "max_per_chat_per_second": 1, "chat_burst": 2}
    app = build_app(tg_settings(tmp_path, url, flows_dir, api, telegram=limits), background=False)
    chats = [TgUser(api, 1000 + n) for n in range(40)]
    async with running(app, api):
        first = chats[0]
        api.push_updates(first.say_update("hi"), first.say_update("/nps"), first.say_update("9"))
        api.push_updates(*(c.say_update("hi") for c in chats[1:]))
        await api.wait_for(lambda: sum(len(c.messages()) for c in chats) >= 2 * 40 + 3, timeout=20)
    assert api.too_many_requests == 0
    assert shape(first.messages()[:2]) == [WELCOME, USE_CASE]
    assert first.messages()[2] == "Let's leave my question for now."  # onboarding's, as /nps starts
    assert first.messages()[3].startswith("How likely are you to recommend")
    assert first.messages()[4] == "Thank you, that means a lot! What do you like most about us?"
    for chat in chats[1:]:
        assert shape(chat.messages()) == [WELCOME, USE_CASE]
    sends = [r["time"] for r in first.calls("sendMessage")]
    assert sends[-1] - sends[0] >= 1.5  # the per-chat limiter spread them out
