"""Customers open complaints in the web chat (over HTTP) while Slack is down, then rate limited, then failing with
5xx. The app runs as in production, its scheduler ticking on the real clock, against the Slack Web API stand-in.

After Slack recovers every ticket is announced exactly once (one escalation post in the channel, one DM to the
assignee), every customer message written while the ticket was open reaches its thread once and in order, and no
notice is left in the outbox.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
from sqlalchemy import select

from bot.outbox.models import OutboxItem
from bot.tickets.models import Ticket
from handlers.server import build_app
from tests.handlers.slack.harness import ANA, RUI, SUPPORT, new_stand_in, running, slack_settings
from tests.reliability.harness import eventually, outbox_statuses

COMPLAINTS = 5
COMPLAINT = ("hi", "cancel", "/complain", "My parcel never arrived", "Order & delivery", "Skip", "Quite a lot")


async def complain(http: httpx.AsyncClient, visitor: str, n: int) -> None:
    """A web chat customer reports a problem, then asks about it (a message while the ticket is open)."""
    for text in (*COMPLAINT, "Any news?"):
        answer = await http.post("/chat/api/messages", json={"visitor": visitor, "text": text, "name": f"Cust {n}"})
        assert answer.status_code == 200, answer.text


async def test_every_ticket_is_announced_once_after_slack_outages_and_rate_limits(
    tmp_path: Path, flows_dir: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}"
    async with new_stand_in() as slack:
        settings = slack_settings(
            tmp_path, database_url, flows_dir, slack,
            outreach={"tick_seconds": 0.2, "quiet_hours": None, "frequency_cap": None},
        )  # fmt: skip
        app = build_app(settings)
        async with (
            running(app, slack) as staff,
            httpx.AsyncClient(base_url=staff.url.removesuffix("/slack/events"), timeout=30) as http,
        ):
            slack.down()
            visitors = [secrets.token_hex(10) for _ in range(COMPLAINTS)]
            await asyncio.gather(*(complain(http, v, n) for n, v in enumerate(visitors[:2])))
            await slack.wait_for(lambda: len(slack.calls("chat.postMessage")) >= 2, timeout=10)  # tried, refused
            slack.up()
            slack.fail_next("chat.postMessage", 429, count=3, retry_after=1)
            slack.fail_next("chat.postMessage", 500, count=2)
            slack.fail_next("conversations.open", 503, count=1)
            await asyncio.gather(*(complain(http, v, n) for n, v in enumerate(visitors[2:], start=2)))

            core = app.state.core

            async def settled() -> bool:
                statuses = await outbox_statuses(core.db)
                return set(statuses) <= {"done"}

            await eventually(settled, timeout=60, what=lambda: str(slack.calls("chat.postMessage")[-5:]))
            async with core.db.sessions() as session:
                tickets = list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars())
                notices = list((await session.execute(select(OutboxItem.status))).scalars())

    assert len(tickets) == COMPLAINTS and set(notices) == {"done"}
    roots = [p for p in slack.posts(SUPPORT) if p["blocks"] and not p["thread_ts"]]
    refs = [t.ref for t in tickets]
    assert sorted(t for t in refs for p in roots if t in (p["text"] or "")) == sorted(refs)  # each ref once
    assert len(roots) == COMPLAINTS
    dms = [p["text"] or "" for p in slack.posts() if p["channel"] in (ANA, RUI)]
    assert sorted(t for t in refs for text in dms if t in text) == sorted(refs)  # each assignee told once per ticket
    asked_in_threads = []
    for ticket in tickets:
        assert (ticket.desk_channel, ticket.desk_thread) in {(SUPPORT, p["ts"]) for p in roots}
        thread = [p["text"] or "" for p in slack.thread(SUPPORT, ticket.desk_thread or "")]
        asked = [text for text in thread if "Any news?" in text]
        assert len(asked) == 1, thread  # the customer's follow-up once, in the ticket's own thread
        asked_in_threads += asked
    assert all(any(f"Cust {n}" in text for text in asked_in_threads) for n in range(COMPLAINTS))
    refused = {r["status"] for r in slack.calls("chat.postMessage") if not r["ok"]}
    assert {503, 429, 500} <= refused  # every kind of failure really happened
