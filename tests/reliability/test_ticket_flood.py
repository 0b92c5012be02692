"""Complaints flood a real `engagebot run` through the web chat (over HTTP, on SQLite and PostgreSQL), with the Slack
Web API stand-in: 300 different customers complaining within seconds make a handful of Slack posts and DMs, not 300
of each, and every ticket is still listed and can be claimed and resolved. One customer complaining twice gets one
ticket; what a customer types reaches Slack escaped, in the fallback text too; a thread reply marked as a note never
reaches the customer, and one that only might be a note waits for its author's word.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bot.storage.database import Database
from bot.tickets.models import Ticket, TicketEvent
from handlers.slack.blocks import CLAIM, RESOLUTION_INPUT, RESOLVE, RESOLVE_VIEW
from handlers.slack.digest import OPEN_TICKET
from handlers.slack.relay import SEND_HELD
from tests.handlers.slack.harness import mrkdwn_texts
from tests.reliability.harness import (
    ANA,
    SLACK_SECRET,
    STAFF,
    SUPPORT,
    EngagebotProcess,
    eventually,
    outbox_statuses,
    processes,
    slack_env,
    write_config,
)
from tests.support.slack_standin import (
    SlackApiStandIn,
    block_action,
    message_event,
    post_signed,
    static_select_action,
    view_submission,
)

VISITORS = 300
AT_ONCE = 40  # customers writing at the same moment
MAX_POSTS = 5  # slack.fold.max_posts (the default)
COMPLAINT = ("I want to complain", "My parcel never arrived", "Order & delivery", "Skip", "Quite a lot")
SPECIAL = re.compile(r"<[^<>]*>")


async def say(http: httpx.AsyncClient, visitor: str, text: str, name: str) -> list[str]:
    """One web chat message; a 429 (the web chat's own limits) is waited out as the page would."""
    for _ in range(20):
        answer = await http.post("/chat/api/messages", json={"visitor": visitor, "text": text, "name": name})
        if answer.status_code != 429:
            assert answer.status_code == 200, answer.text
            return [r["text"] for r in answer.json()["replies"]]
        wait = float(answer.headers.get("retry-after", "1"))
        assert wait <= 5, f"the web chat refused {visitor} for {wait}s: {answer.text}"
        await asyncio.sleep(wait)
    raise AssertionError(f"{visitor} kept being refused")


async def complain(http: httpx.AsyncClient, visitor: str, name: str, words: str = COMPLAINT[1]) -> str:
    said: list[str] = []
    for line in (COMPLAINT[0], words, *COMPLAINT[2:]):
        said += await say(http, visitor, line, name)
    return "\n".join(said)


async def told(http: httpx.AsyncClient, visitor: str) -> list[str]:
    """What the web chat shows the customer (the bot's and staff's messages)."""
    answer = await http.get("/chat/api/messages", params={"visitor": visitor, "after": 0})
    return [m["text"] for m in answer.json()["messages"] if m["direction"] == "out"]


def cli(bot: EngagebotProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`engagebot` next to the running service, with its configuration and database."""
    return subprocess.run([sys.executable, "-m", "handlers.cli", *args], cwd=bot.config.parent, env=bot.env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def escalations(slack: SlackApiStandIn) -> list[dict[str, Any]]:
    return [p for p in slack.posts(SUPPORT) if not p["thread_ts"] and CLAIM in json.dumps(p["blocks"] or [])]


def summaries(slack: SlackApiStandIn) -> list[dict[str, Any]]:
    return [p for p in slack.posts(SUPPORT) if not p["thread_ts"] and OPEN_TICKET in json.dumps(p["blocks"] or [])]


def option_values(post: dict[str, Any]) -> list[str]:
    return [o["value"] for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]
            if e.get("action_id") == OPEN_TICKET for o in e["options"]]  # fmt: skip


async def signed(bot: EngagebotProcess, body: tuple[str, str]) -> None:
    answer = await post_signed(f"{bot.url}/slack/events", *body, SLACK_SECRET)
    assert answer.status_code == 200, answer.text


async def ticket_status(db: Database, ref: str) -> str | None:
    async with db.sessions() as session:
        return (await session.execute(select(Ticket.status).where(Ticket.ref == ref))).scalar_one_or_none()


@asynccontextmanager
async def engagebot(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[EngagebotProcess, SlackApiStandIn, Database]]:
    """A real `engagebot run` with Slack (the stand-in) and the web chat, healthy; its database to read."""
    # Real customers complain from many addresses; here they all share the loopback, which is exempted from the
    # web chat's per-address limits as their many addresses would not hit them (the per-visitor ones still hold).
    config = write_config(tmp_path / "bot", staff=STAFF, routing={"fallback": "ana"},
                          slack={"channels": {"default": SUPPORT}},
                          webchat={"rate_limits": {"exempt_networks": ["127.0.0.0/8"]}})  # fmt: skip
    async with SlackApiStandIn(users={ANA: "Ana Lima"}, channels={SUPPORT: "support"}) as slack:
        bot = EngagebotProcess(config, database_url, tmp_path / "bot.log", slack_env(slack))
        db = Database(database_url)
        try:
            with processes(bot):
                await bot.wait_healthy()
                yield bot, slack, db
        finally:
            await db.dispose()
    assert "Traceback" not in bot.tail(200_000)


async def test_a_flood_of_complaints_makes_a_handful_of_slack_posts_and_every_ticket_can_be_worked_on(
    tmp_path: Path, database_url: str
) -> None:
    async with engagebot(tmp_path, database_url) as (bot, slack, db):
        visitors = {f"flood{secrets.token_hex(8)}": f"Customer {n}" for n in range(VISITORS)}
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(visitor: str, name: str) -> str:
            async with gate:
                return await complain(http, visitor, name)

        async with httpx.AsyncClient(base_url=bot.url, timeout=60) as http:
            said = await asyncio.gather(*(one(v, n) for v, n in visitors.items()))
            assert all("Your reference is C-" in s for s in said)

            async def settled() -> bool:
                return bool(summaries(slack)) and set(await outbox_statuses(db)) <= {"done"}

            await eventually(settled, timeout=90, what=lambda: f"posts so far: {len(slack.posts())}")

            # A handful of posts: the first few tickets one by one, then one summary (two if the flood
            # straddled the summary's collection); one DM per ticket posted, one per summary.
            roots, summary_posts = escalations(slack), summaries(slack)
            assert len(roots) == MAX_POSTS and 1 <= len(summary_posts) <= 2
            assert len(slack.posts(SUPPORT)) == len(roots) + len(summary_posts)  # nothing else in the channel
            assert len(slack.dms_to(ANA)) == len(roots) + len(summary_posts)
            counted = sum(int(n) for p in summary_posts for n in re.findall(r"\*(\d+) new tickets", p["text"]))
            assert counted + len(roots) == VISITORS

            # Every ticket is listed.
            async with db.sessions() as session:
                refs = set((await session.execute(select(Ticket.ref))).scalars())
            assert len(refs) == VISITORS
            listed = cli(bot, "tickets", "list", "--limit", "1000")
            assert listed.returncode == 0, listed.stderr
            assert set(re.findall(r"\bC-\d+\b", listed.stdout)) == refs

            # A folded ticket, picked from the summary, gets its message with buttons; it is claimed and
            # resolved from Slack, and its customer hears the resolution.
            picked = option_values(summary_posts[0])[-1]
            assert not any(picked in (p["text"] or "") for p in roots)
            summary = summary_posts[0]
            await signed(bot, static_select_action(ANA, OPEN_TICKET, picked, SUPPORT, summary["ts"],
                                                   message=summary))  # fmt: skip
            root = (await eventually(lambda: [p for p in escalations(slack) if picked in p["text"]]))[0]
            await signed(bot, block_action(ANA, CLAIM, picked, SUPPORT, root["ts"], message=root))
            await eventually(lambda: _is(db, picked, "claimed"), what=f"{picked} claimed")
            opened = len(slack.views_opened)
            await signed(bot, block_action(ANA, RESOLVE, picked, SUPPORT, root["ts"], message=root,
                                           trigger_id="t-resolve"))  # fmt: skip
            await eventually(lambda: len(slack.views_opened) > opened, what="the Resolve form")
            values = {RESOLUTION_INPUT[0]: {RESOLUTION_INPUT[1]: "We found it at the depot."}}
            await signed(bot, view_submission(ANA, RESOLVE_VIEW, state_values=values, view=slack.views_opened[-1]))
            await eventually(lambda: _is(db, picked, "resolved"), what=f"{picked} resolved")
            customer = next(v for v, s in zip(visitors, said, strict=True) if f"reference is {picked}." in s)
            await eventually(lambda: _told(http, customer, "We found it at the depot."), what="the resolution")

            # Another, from the command line.
            other = sorted(refs - {picked, *(re.findall(r"C-\d+", " ".join(p["text"] for p in roots)))})[0]
            for args in (("claim", other, "--as", "ana"),
                         ("resolve", other, "--as", "ana", "--resolution", "Refunded.")):  # fmt: skip
                done = cli(bot, "tickets", *args)
                assert done.returncode == 0, done.stderr
            assert await ticket_status(db, other) == "resolved"


async def test_one_ticket_per_customer_escaped_words_and_notes_that_fail_closed(
    tmp_path: Path, database_url: str
) -> None:
    async with engagebot(tmp_path, database_url) as (bot, slack, db):
        async with httpx.AsyncClient(base_url=bot.url, timeout=60) as http:
            visitor, name = f"twice{secrets.token_hex(8)}", "Jo <!everyone>"
            hostile = "<!channel> <!here> <@U0BOSS> <#C0ALL> my parcel & more"
            assert "Your reference is C-1001." in await complain(http, visitor, name, hostile)
            again = await complain(http, visitor, name, "And it was the wrong colour <!here>")
            assert "You already have an open request with us, C-1001, so I've added this to it" in again
            async with db.sessions() as session:
                assert (await session.execute(select(func.count()).select_from(Ticket))).scalar_one() == 1

            (root,) = await eventually(lambda: escalations(slack), what="the escalation")
            added = await eventually(lambda: slack.thread(SUPPORT, root["ts"]), what="the second complaint")
            assert "And it was the wrong colour &lt;!here&gt;" in added[0]["text"]
            # Escaped everywhere Slack reads mrkdwn: the fallback text of every post, and their blocks.
            assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U0BOSS&gt; &lt;#C0ALL&gt; my parcel &amp; more" in root["text"]
            for post in slack.posts():
                for text in [post["text"], *mrkdwn_texts(post["blocks"] or [])]:
                    leaked = [s for s in SPECIAL.findall(text or "") if s != f"<@{ANA}>" and "/archives/" not in s]
                    assert not leaked, (post["channel"], text)

            # Notes fail closed: a marked note never reaches the customer; a maybe-note waits for its author.
            for written in ("*note:* courier has it", "&gt; note: courier has it", "[internal] courier has it"):
                await signed(bot, message_event(SUPPORT, ANA, written, thread_ts=root["ts"]))
            await signed(bot, message_event(SUPPORT, ANA, "Note that the refund takes 3 days", thread_ts=root["ts"]))
            (question,) = await eventually(lambda: slack.ephemerals(ANA), what="the question to the author")
            await eventually(lambda: _timeline_has(db, ["note", "note", "note", "held_reply"]), what="the notes")
            await eventually(lambda: _settled(db), what="the outbox idle")  # anything sent would be out now
            assert not [t for t in await told(http, visitor) if t.startswith("Ana Lima:")]

            url = slack.response_url()
            value = next(e["value"] for b in question["blocks"] if b["type"] == "actions" for e in b["elements"]
                         if e["action_id"] == SEND_HELD)  # fmt: skip
            await signed(bot, block_action(ANA, SEND_HELD, value, SUPPORT, question["response"]["message_ts"],
                                           response_url=url, message={"blocks": question["blocks"]}))  # fmt: skip
            await eventually(lambda: _told(http, visitor, "Ana Lima: Note that the refund takes 3 days"))
            assert [t for t in await told(http, visitor) if t.startswith("Ana Lima:")] == [
                "Ana Lima: Note that the refund takes 3 days"
            ]


async def _timeline_has(db: Database, kinds: list[str]) -> bool:
    async with db.sessions() as session:
        found = (await session.execute(select(TicketEvent.kind, TicketEvent.body).order_by(TicketEvent.id))).all()
    staff_written = [(kind, body) for kind, body in found if kind in ("note", "held_reply", "staff_reply")]
    assert all(body == "courier has it" for kind, body in staff_written if kind == "note"), staff_written
    return sorted(kind for kind, _ in staff_written) == sorted(kinds)  # Slack events are handled side by side


async def _settled(db: Database) -> bool:
    return set(await outbox_statuses(db)) <= {"done"}


async def _is(db: Database, ref: str, status: str) -> bool:
    return await ticket_status(db, ref) == status


async def _told(http: httpx.AsyncClient, visitor: str, words: str) -> bool:
    return any(words in text for text in await told(http, visitor))
