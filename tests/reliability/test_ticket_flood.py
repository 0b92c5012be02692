"""Complaints flood a real `engagebot run` through the web chat (over HTTP, on SQLite and PostgreSQL), with the Slack
Web API stand-in: 300 different customers complaining within seconds, then each writing once or twice more, make a
handful of Slack posts and DMs, not 300 (or 600) of each; every ticket is still listed and can be claimed and resolved,
and a summarised ticket opened from the summary shows in its thread what its customer wrote meanwhile. One customer
complaining twice gets one ticket; what a customer types reaches Slack escaped, in the fallback text too; a thread
reply marked as a note never reaches the customer, and one that only might be a note waits for its author's word.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bot.storage.database import Database
from bot.tickets.models import Ticket, TicketEvent
from handlers.slack.blocks import CLAIM, RESOLUTION_INPUT, RESOLVE, RESOLVE_VIEW
from handlers.slack.digest import OPEN_TICKET
from handlers.slack.relay import SEND_HELD
from tests.handlers.slack.harness import mrkdwn_texts
from tests.reliability.harness import (
    ANA,
    SCHEDULED,
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
# slack.fold's window and first collection, shorter than the defaults (60 s, 10 s) so that the summaries, a window
# apart, come within the test's run: the bucket then drains a post every 4 s instead of 12 s, a stricter flood.
FOLD = {"window_seconds": 20, "collect_seconds": 5}
LATER = ("Hello? Is anyone there?", "Any news?")  # what each customer adds once their complaint is in
ADDED = "I've added this to your ticket C-"
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


async def complain(
    http: httpx.AsyncClient,
    visitor: str,
    name: str,
    words: str = COMPLAINT[1],
    impact: str = COMPLAINT[4],
    opening: str = COMPLAINT[0],
) -> str:
    said: list[str] = []
    for line in (opening, words, *COMPLAINT[2:4], impact):
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


def counted(posts: list[dict[str, Any]], what: str) -> int:
    """How many tickets the summaries' lines of one kind name ("new tickets", "customers? wrote again")."""
    return sum(int(n) for p in posts for n in re.findall(rf"\*(\d+) {what}", p["text"]))


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
    tmp_path: Path, database_url: str, fold: dict[str, float] | None = None
) -> AsyncIterator[tuple[EngagebotProcess, SlackApiStandIn, Database]]:
    """A real `engagebot run` with Slack (the stand-in) and the web chat, healthy; its database to read."""
    # Real customers complain from many addresses; here they all share the loopback, which is exempted from the
    # web chat's per-address limits as their many addresses would not hit them (the per-visitor ones still hold).
    config = write_config(tmp_path / "bot", staff=STAFF, routing={"fallback": "ana"},
                          slack={"channels": {"default": SUPPORT}, "fold": fold or {}},
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
    async with engagebot(tmp_path, database_url, FOLD) as (bot, slack, db):
        visitors = {f"flood{secrets.token_hex(8)}": f"Customer {n}" for n in range(VISITORS)}
        lines = {v: LATER[: 1 + n % 2] for n, v in enumerate(visitors)}  # one or two more lines each
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(visitor: str, name: str) -> str:
            async with gate:
                return await complain(http, visitor, name)

        async def again(visitor: str, name: str) -> list[str]:
            async with gate:
                return [s for line in lines[visitor] for s in await say(http, visitor, line, name)]

        async with httpx.AsyncClient(base_url=bot.url, timeout=60) as http:
            started = time.monotonic()
            said = await asyncio.gather(*(one(v, n) for v, n in visitors.items()))
            assert all("Your reference is C-" in s for s in said)
            # Then, as the reviewer's script did, every customer writes once or twice more on their open ticket.
            added = await asyncio.gather(*(again(v, n) for v, n in visitors.items()))
            # Fold windows the flood spanned: one on an idle machine; more where a loaded one made it slow. The bucket
            # admits a post again after a pause of a step (4 s), and each window brings its summary.
            windows = max(1, math.ceil((time.monotonic() - started) / FOLD["window_seconds"]))
            assert all(len(a) == len(lines[v]) and all(t.startswith(ADDED) for t in a)
                       for v, a in zip(visitors, added, strict=True))  # fmt: skip

            async def settled() -> bool:
                return bool(summaries(slack)) and set(await outbox_statuses(db)) <= {"done", SCHEDULED}

            await eventually(settled, timeout=90, what=lambda: f"posts so far: {len(slack.posts())}")

            # A handful of posts: the first few tickets one by one (with a DM each), then one summary a window
            # (one DM each); the customers' later lines in the threads of those few, the rest in the summaries. A
            # ticket's own message for a customer's line would be a root post without a DM: at most one slips
            # through when the flood pauses for a few seconds (600 more posts before the fix).
            roots, summary_posts = escalations(slack), summaries(slack)
            threads = [p for p in slack.posts(SUPPORT) if p["thread_ts"]]
            shape = f"{len(roots)} roots, {len(summary_posts)} summaries, {len(threads)} threads, {windows} window(s)"
            # One of the first slots may go to a customer's line whose ticket had no thread when it was judged, and
            # that line then joins the thread its ticket's own post started meanwhile (a thread post, not a root).
            assert MAX_POSTS - 1 <= len(roots) <= MAX_POSTS + windows and 1 <= len(summary_posts) <= 3 + windows, shape
            assert len(slack.posts(SUPPORT)) == len(roots) + len(summary_posts) + len(threads), shape
            assert {p["thread_ts"] for p in threads} <= {r["ts"] for r in roots}, shape
            assert len(threads) <= 2 * len(roots) + 1, shape  # their customers' lines (and, late, what came before)
            # A DM for each ticket posted on its own and one for each summary.
            opened_alone = len(slack.dms_to(ANA)) - len(summary_posts)
            assert MAX_POSTS - 1 <= opened_alone <= len(roots), shape
            assert len(slack.posts()) == len(slack.posts(SUPPORT)) + len(slack.dms_to(ANA)) <= 25 + 5 * windows
            assert counted(summary_posts, "new tickets") + opened_alone == VISITORS
            # Customers who wrote again are named, at most once per line (a line that beat its ticket's own post is
            # folded too, and a customer can be named in two summaries).
            assert counted(summary_posts, "customers? wrote again") <= sum(len(v) for v in lines.values())

            # Nothing a customer wrote is lost: every line is on its ticket's timeline, and reached Slack in a
            # thread or waits, folded, for the thread to start.
            async with db.sessions() as session:
                refs = set((await session.execute(select(Ticket.ref))).scalars())
                kinds = [k for k in (await session.execute(select(TicketEvent.kind))).scalars()]
                folded = [d for d in (await session.execute(select(TicketEvent.data).where(
                    TicketEvent.kind == "folded"))).scalars() if d.get("notice") == "customer_message"]  # fmt: skip
            sent = sum(len(v) for v in lines.values())
            assert kinds.count("customer_message") == sent
            assert len(folded) + sum("* wrote:\n" in p["text"] for p in threads) == sent

            # Every ticket is listed.
            assert len(refs) == VISITORS
            listed = cli(bot, "tickets", "list", "--limit", "1000")
            assert listed.returncode == 0, listed.stderr
            assert set(re.findall(r"\bC-\d+\b", listed.stdout)) == refs

            # A folded ticket whose customer wrote twice, picked from the summary, gets its message with buttons
            # and, in its thread, what the customer wrote meanwhile; it is claimed and resolved from Slack, and its
            # customer hears the resolution.
            summary = summary_posts[0]
            customer_of = {re.findall(r"reference is (C-\d+)\.", s)[0]: v for v, s in zip(visitors, said, strict=True)}
            posted = " ".join(p["text"] for p in roots)
            picked = next(ref for ref in reversed(option_values(summary))
                          if len(lines[customer_of[ref]]) == 2 and ref not in posted)  # fmt: skip
            await signed(bot, static_select_action(ANA, OPEN_TICKET, picked, SUPPORT, summary["ts"],
                                                   message=summary))  # fmt: skip
            root = (await eventually(lambda: [p for p in escalations(slack) if picked in p["text"]]))[0]
            await eventually(lambda: len(slack.thread(SUPPORT, root["ts"])) == 2, what=f"{picked}'s thread")
            meanwhile, eyes = slack.thread(SUPPORT, root["ts"])
            assert meanwhile["text"].endswith(">Hello? Is anyone there?\n\n>Any news?"), meanwhile["text"]
            assert eyes["text"] == f":eyes: <@{ANA}> asked to work on this ticket."
            await signed(bot, block_action(ANA, CLAIM, picked, SUPPORT, root["ts"], message=root))
            await eventually(lambda: _is(db, picked, "claimed"), what=f"{picked} claimed")
            opened = len(slack.views_opened)
            await signed(bot, block_action(ANA, RESOLVE, picked, SUPPORT, root["ts"], message=root,
                                           trigger_id="t-resolve"))  # fmt: skip
            await eventually(lambda: len(slack.views_opened) > opened, what="the Resolve form")
            values = {RESOLUTION_INPUT[0]: {RESOLUTION_INPUT[1]: "We found it at the depot."}}
            await signed(bot, view_submission(ANA, RESOLVE_VIEW, state_values=values, view=slack.views_opened[-1]))
            await eventually(lambda: _is(db, picked, "resolved"), what=f"{picked} resolved")
            await eventually(lambda: _told(http, customer_of[picked], "We found it at the depot."),
                             what="the resolution")  # fmt: skip

            # Another, from the command line.
            other = sorted(refs - {picked, *(re.findall(r"C-\d+", posted))})[0]
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
            (root,) = await eventually(lambda: escalations(slack), what="the escalation")
            # The second complaint is urgent: it joins the ticket and makes it urgent too (severity and deadlines).
            # (/complain: words about a problem from a customer with an open ticket are added to it as they are.)
            again = await complain(http, visitor, name, "And it was the wrong colour <!here>", "A lot, it's urgent",
                                   opening="/complain")  # fmt: skip
            assert "You already have an open request with us, C-1001, so I've added this to it" in again
            async with db.sessions() as session:
                (ticket,) = (await session.execute(select(Ticket))).scalars()
            assert ticket.severity == "high"

            added = await eventually(lambda: slack.thread(SUPPORT, root["ts"]), what="the second complaint")
            assert "And it was the wrong colour &lt;!here&gt;" in added[0]["text"]
            assert "Severity raised from normal to *high*: first response due" in added[0]["text"]
            redrawn = await eventually(lambda: slack.updates(SUPPORT, root["ts"]), what="the escalation redrawn")
            assert "*Severity*\nhigh" in mrkdwn_texts(redrawn[-1]["blocks"])
            # Escaped everywhere Slack reads mrkdwn: the fallback text of every post, and their blocks.
            assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U0BOSS&gt; &lt;#C0ALL&gt; my parcel &amp; more" in root["text"]
            for post in slack.posts():
                for text in [post["text"], *mrkdwn_texts(post["blocks"] or [])]:
                    leaked = [s for s in SPECIAL.findall(text or "") if s != f"<@{ANA}>" and "/archives/" not in s]
                    assert not leaked, (post["channel"], text)

            # Notes fail closed: a marked note never reaches the customer; a maybe-note waits for its author.
            # Also when it only looks like a marker to a person: full-width, behind a zero-width space, after an emoji.
            marked = ("*note:* courier has it", "&gt; note: courier has it", "[internal] courier has it",
                      "ｎｏｔｅ: courier has it", "\u200bnote: courier has it", ":memo: note: courier has it",
                      "📝 note: courier has it")  # fmt: skip
            for written in marked:
                await signed(bot, message_event(SUPPORT, ANA, written, thread_ts=root["ts"]))
            await signed(bot, message_event(SUPPORT, ANA, "Note that the refund takes 3 days", thread_ts=root["ts"]))
            (question,) = await eventually(lambda: slack.ephemerals(ANA), what="the question to the author")
            notes = ["note"] * len(marked) + ["held_reply"]
            await eventually(lambda: _timeline_has(db, notes), what="the notes")
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
    return set(await outbox_statuses(db)) <= {"done", SCHEDULED}


async def _is(db: Database, ref: str, status: str) -> bool:
    return await ticket_status(db, ref) == status


async def _told(http: httpx.AsyncClient, visitor: str, words: str) -> bool:
    return any(words in text for text in await told(http, visitor))
