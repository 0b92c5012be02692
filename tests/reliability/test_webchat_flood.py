"""Floods of the public web chat against a real `engagebot run` (Slack on, through the Slack Web API stand-in), on
SQLite and PostgreSQL. Clients get their addresses the way they do behind a reverse proxy: X-Forwarded-For from
127.0.0.1, which uvicorn trusts and applies.

Before the rate limits, 2,000 messages from one visitor were all accepted, and 300 scripted visitors from one address
opened 300 tickets (600 Slack posts) in 9 s and could stuff the NPS the same way. Now the visitor's flood is refused
with 429 and Retry-After, the scripted visitors get a handful of conversations between them, the log gets a line per
burst rather than per request, and real customers keep chatting throughout.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bot.config import WebchatRateLimits
from bot.storage.database import Database
from bot.tickets.models import Ticket
from bot.transcript import Message
from tests.reliability.harness import (
    ANA,
    SCHEDULED,
    STAFF,
    SUPPORT,
    EngagebotProcess,
    eventually,
    outbox_statuses,
    processes,
    slack_env,
    survey_answers,
    write_config,
)
from tests.reliability.test_slack_faults import COMPLAINT
from tests.support.slack_standin import SlackApiStandIn

DEFAULTS = WebchatRateLimits()
NPS_STUFFING = ("/nps", "10", "Best shop ever")
CUSTOMER_CHAT = ("hi", "Just for me", "no", "menu")
FLOODER, COMPLAINERS, STUFFERS = "198.51.100.7", "198.51.100.8", "198.51.100.9"
CYCLER = "2001:db8:0:1"  # + two hex digits: the 256 /64s of 2001:db8:0:100::/56
PATIENCE = 5  # seconds a script waits for Retry-After; past that it gives up (a script of ours, not the limit)


def visitor_id() -> str:
    return secrets.token_hex(16)


async def say(http: httpx.AsyncClient, visitor: str, text: str, address: str | None) -> httpx.Response:
    """`address` None: straight from the bot's own host (loopback), as an operator's curl."""
    body = {"visitor": visitor, "text": text, "client_id": secrets.token_hex(8)}
    return await http.post("/chat/api/messages", json=body, headers={"X-Forwarded-For": address} if address else {})


async def chat(http: httpx.AsyncClient, visitor: str, lines: tuple[str, ...], address: str | None) -> bool:
    """A customer (or a script) typing `lines`, waiting out short Retry-Afters; True when every line got through."""
    for text in lines:
        answer = await say(http, visitor, text, address)
        while answer.status_code == 429 and int(answer.headers["retry-after"]) <= PATIENCE:
            await asyncio.sleep(int(answer.headers["retry-after"]))  # what the page does: wait as told, send again
            answer = await say(http, visitor, text, address)
        if answer.status_code != 200:
            return False
    return True


async def start_bot(
    tmp_path: Path, database_url: str, slack: SlackApiStandIn, **rate_limits: object
) -> EngagebotProcess:
    config = write_config(tmp_path, staff=STAFF, routing={"fallback": "ana"}, slack={"channels": {"default": SUPPORT}},
                          webchat={"rate_limits": rate_limits})  # fmt: skip
    bot = EngagebotProcess(config, database_url, tmp_path / "bot.log", slack_env(slack))
    await bot.wait_healthy()
    return bot


def refusal_lines(bot: EngagebotProcess) -> list[str]:
    return [line for line in bot.log.read_text(errors="replace").splitlines() if "limit reached" in line]


async def test_2000_messages_from_one_visitor_are_mostly_refused_while_other_customers_chat(
    tmp_path: Path, database_url: str
) -> None:
    async with SlackApiStandIn(users={ANA: "Ana Lima"}, channels={SUPPORT: "support"}) as slack:
        bot = await start_bot(tmp_path, database_url, slack)  # every limit at its default
        with processes(bot):
            async with httpx.AsyncClient(base_url=bot.url, timeout=30) as http:
                flooder = visitor_id()
                queue = iter(range(2000))
                answers: list[httpx.Response] = []

                async def flood() -> None:
                    for _ in queue:
                        answers.append(await say(http, flooder, "spam", FLOODER))

                carol_chatted = asyncio.gather(*(chat(http, visitor_id(), CUSTOMER_CHAT, f"192.0.2.{n}")
                                                 for n in range(1, 4)))  # fmt: skip
                started = asyncio.get_running_loop().time()
                await asyncio.gather(*(flood() for _ in range(20)))
                seconds = asyncio.get_running_loop().time() - started
                assert await carol_chatted == [True, True, True]  # customers elsewhere chatted all along
                after = [await chat(http, visitor_id(), CUSTOMER_CHAT, "192.0.2.50")]
                assert after == [True]

        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {200, 429}, bot.tail()
        accepted = statuses.count(200)
        limit = DEFAULTS.visitor_messages
        assert limit is not None
        # The burst, plus what the rate refills while the flood lasts.
        assert accepted <= limit.burst + int(seconds * limit.rate / limit.per_seconds) + 1, (accepted, seconds)
        assert statuses.count(429) >= 1900
        for refused in (a for a in answers if a.status_code == 429):
            retry_after = int(refused.headers["retry-after"])
            assert retry_after >= 1 and refused.json()["retry_after"] == retry_after
        lines = refusal_lines(bot)
        assert 1 <= len(lines) <= 3, lines  # a line per refused burst (the visitor's, then its address's)
        assert "Traceback" not in bot.log.read_text(errors="replace")
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                stored = await session.scalar(select(func.count()).where(Message.text == "spam"))
            assert stored == accepted  # a refused message is not stored (the page sends it again later)
        finally:
            await db.dispose()


async def test_300_scripted_visitors_from_one_address_open_a_handful_of_tickets_and_nps_answers(
    tmp_path: Path, database_url: str
) -> None:
    """Only the new-visitor limit (at its default) stands between the scripts and the bot here: the per-address
    message limit is off, so the scripts are not slowed down by it and the test stays quick."""
    new_visitors = DEFAULTS.new_visitors
    assert new_visitors is not None
    async with SlackApiStandIn(users={ANA: "Ana Lima"}, channels={SUPPORT: "support"}) as slack:
        bot = await start_bot(tmp_path, database_url, slack, address_messages=None)
        with processes(bot):
            async with httpx.AsyncClient(base_url=bot.url, timeout=60) as http:
                # A customer behind the same address as the complaint scripts, chatting since before they started.
                bob = visitor_id()
                assert await chat(http, bob, CUSTOMER_CHAT[:2], COMPLAINERS)
                gate = asyncio.Semaphore(50)

                async def scripted(lines: tuple[str, ...], address: str) -> bool:
                    async with gate:
                        return await chat(http, visitor_id(), lines, address)

                complaints, stuffing, cycling = await asyncio.gather(
                    asyncio.gather(*(scripted(COMPLAINT, COMPLAINERS) for _ in range(300))),
                    asyncio.gather(*(scripted(NPS_STUFFING, STUFFERS) for _ in range(300))),
                    # One IPv6 party, each visitor from another /64 of its /56: 300 fresh counts before.
                    asyncio.gather(*(scripted(CUSTOMER_CHAT[:1], f"{CYCLER}{n % 256:02x}::1") for n in range(300))),
                )
                # Bob counted before the scripts arrived: the rest of the burst was theirs.
                assert sum(complaints) == new_visitors.burst - 1
                assert sum(stuffing) == new_visitors.burst
                assert sum(cycling) == 4 * new_visitors.burst  # its /56 counts too, at 4 times the limit; was 300
                # Someone on the bot's own host (an operator trying it with curl) is no abusive address: loopback
                # skips the per-address limits by default. Before, they were refused after 5 new visitors an hour.
                local = await asyncio.gather(*(chat(http, visitor_id(), CUSTOMER_CHAT[:1], None) for _ in range(12)))
                assert local == [True] * 12
                assert await chat(http, bob, CUSTOMER_CHAT[2:], COMPLAINERS)  # returning visitors never count
                assert await chat(http, visitor_id(), CUSTOMER_CHAT, "192.0.2.50")  # a new customer elsewhere

                db = Database(database_url)
                try:

                    async def settled() -> bool:
                        return set(await outbox_statuses(db)) <= {"done", SCHEDULED}

                    await eventually(settled, timeout=60, what="ticket notices sent")
                    async with db.sessions() as session:
                        tickets = await session.scalar(select(func.count()).select_from(Ticket))
                    answers = await survey_answers(db)
                finally:
                    await db.dispose()

        assert tickets == new_visitors.burst - 1  # was 300
        posts = slack.calls("chat.postMessage")
        assert 1 <= len(posts) <= 2 * new_visitors.burst, len(posts)  # a post and a DM per ticket at most; was 600
        assert [score for score, _comment in answers].count(10) == new_visitors.burst  # was 300
        lines = refusal_lines(bot)
        assert 1 <= len(lines) <= 6, lines  # one per address's burst of refusals, not 870
        assert "Traceback" not in bot.log.read_text(errors="replace")
