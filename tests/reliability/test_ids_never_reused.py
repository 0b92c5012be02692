"""An id, and so a ticket reference, is never given twice (issue 18, finding 4).

SQLite gave a table's newest id to the next row once that row was deleted: after Carol (ticket C-1002) was erased,
Bob's complaint became customer 2 and ticket C-1002, and Claim or Resolve pressed on Carol's old Slack message
acted on Bob's ticket. The whole app served over HTTP: customers through the engine, the erasure through `/api`,
signed Slack clicks against the Slack Web API stand-in; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy import select

from bot.core import Core
from bot.transcript import Message
from handlers.server import build_app
from handlers.slack.blocks import RESOLVE
from tests.conftest import Chat, FixedClock
from tests.handlers.slack.harness import ANA, eventually, new_stand_in, running, slack_settings

API_KEY = "ids-never-reused-api-key-0123456789abcdef"
GONE = "C-1002 no longer exists: its customer's data was erased. Nothing was done."


async def complain(core: Core, visitor: str, name: str) -> str:
    """A web chat customer reports a lost parcel; returns the ticket reference the bot gave them."""
    chat = Chat(core, address=visitor, name=name)
    for text in ("hi", "cancel", "/complain", f"{name}: my parcel never arrived"):
        await chat.say(text)
    await chat.press("Order & delivery")
    await chat.press("Skip")
    found = re.search(r"C-\d+", await chat.press("Quite a lot"))
    assert found is not None, chat.last
    return found.group()


async def told(core: Core, customer_id: int) -> list[str]:
    async with core.db.sessions() as session:
        query = select(Message.text).where(Message.customer_id == customer_id, Message.direction == "out")
        return [text or "" for text in (await session.execute(query)).scalars()]


async def test_an_erased_customers_ticket_reference_is_never_given_again_and_its_old_buttons_touch_nothing(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    async with new_stand_in() as slack:
        settings = slack_settings(tmp_path, database_url, flows_dir, slack, env={"ENGAGEBOT_API_KEY": API_KEY})
        app = build_app(settings, clock=clock, background=False)
        async with (
            running(app, slack) as staff,
            httpx.AsyncClient(base_url=staff.url.removesuffix("/slack/events"), headers={"X-API-Key": API_KEY}) as api,
        ):
            assert await complain(staff.core, "visitor-00000000000a11ce", "Alice Moreau") == "C-1001"
            clock.advance(minutes=30)
            assert await complain(staff.core, "visitor-00000000000ca201", "Carol Silva") == "C-1002"
            await staff.dispatch()
            (carol_post,) = [root for root in staff.roots() if "C-1002" in root["text"]]
            form = await staff.open_resolve(ANA, carol_post)  # Ana starts writing Carol's resolution...
            carol = await staff.ticket("C-1002")

            erased = await api.delete(f"/api/customers/{carol.customer_id}")  # ...and Carol's data is erased
            assert erased.status_code == 200, erased.text

            clock.advance(minutes=30)
            bob_ref = await complain(staff.core, "visitor-0000000000000b0b", "Bob Dupont")
            await staff.dispatch()
            bob = await staff.ticket(bob_ref)
            assert bob_ref == "C-1003"
            assert (bob.id, bob.customer_id) != (carol.id, carol.customer_id)
            assert bob.id > carol.id and bob.customer_id > carol.customer_id
            before = await staff.events(bob_ref)

            # Everything Ana can still do from Carol's post: Claim, Reassign, Resolve, and send the form she had open.
            await staff.claim(ANA, carol_post)
            await staff.reassign(ANA, carol_post, "rui")
            await staff.press(ANA, RESOLVE, carol_post, trigger_id="t-after-erasure")
            await staff.submit_resolve(ANA, form, "Refunded in full")
            await eventually(lambda: len(slack.ephemerals(ANA)) >= 4)
            assert [e["text"] for e in slack.ephemerals(ANA)] == [GONE] * 4
            assert len(slack.views_opened) == 1  # no Resolve form for a ticket that is gone

            await staff.dispatch()
            bob = await staff.ticket(bob_ref)
            assert await staff.events(bob_ref) == before
            assert (bob.status, bob.resolution, bob.claimed_at) == ("assigned", None, None)
            assert not [text for text in await told(staff.core, bob.customer_id) if "Refunded" in text]
            assert [p for p in staff.roots() if bob_ref in p["text"]]  # Bob's own post, with his own buttons
