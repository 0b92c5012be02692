"""Template injection: customer names and CRM attributes that look like Jinja (`{{ 7*7 }}`, `{% for %}`,
`{{ ''.__class__ }}`) reach customers exactly as written, in flow messages and in campaign messages; they are data,
never evaluated (the flows' own templates run in a sandbox, and values are not templates)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.customers.models import ChannelIdentity, Customer
from bot.messages import ChannelRef, Reply
from bot.outreach.campaigns import planning
from tests.conftest import Chat, make_settings

INJECTIONS = [
    "{{7*7}}",
    "{{ 7*7 }}",
    "{% for x in range(3) %}x{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config }}{{ self }}{{ cycler.__init__.__globals__ }}",
    "{% raw %}{{ customer.name }}{% endraw %}",
    "{#",
    "${7*7} #{7*7} <%= 7*7 %>",
]
CAMPAIGN = "Hello {{ customer.first_name }}, your plan: {{ customer.attributes.plan }}."


@dataclass
class WebInbox:
    name: str = "web"
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, ref: ChannelRef, replies: Sequence[Reply]) -> None:
        self.sent += [(ref.address, reply.text) for reply in replies]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(
        tmp_path, database_url, flows_dir, campaigns={"news": {"kind": "news", "message": CAMPAIGN}},
        outreach={"quiet_hours": None, "frequency_cap": None},
    )  # fmt: skip


async def test_names_and_attributes_that_look_like_templates_are_shown_literally(core: Core) -> None:
    inbox = WebInbox()
    core.add_channel(inbox)
    visitors = {}
    for n, text in enumerate(INJECTIONS):
        name = text.replace(" ", "")  # the first name is the first word of the name
        chat = Chat(core, address=f"visitor-{n:020d}", name=name)
        welcome = await chat.say("hi")
        assert welcome.startswith(f"Hi {name}, welcome"), welcome  # in a flow message
        await chat.say("cancel")
        visitors[chat.address] = (name, text)
    async with core.db.transaction() as session:
        rows = await session.execute(select(ChannelIdentity.address, Customer).join(Customer))
        for address, customer in rows.all():
            customer.attributes = {"plan": visitors[address][1]}  # as the CRM API stores them

    now = core.clock.now()
    result = await planning.plan(core.db, core.settings, "news", "test", due_at=now, now=now)
    assert result.planned == len(INJECTIONS)
    core.clock.advance(seconds=5)  # type: ignore[attr-defined]  # the messages are due at the proactive rate
    await core.dispatcher.drain()

    assert sorted(inbox.sent) == sorted(
        (address, f"Hello {name}, your plan: {plan}.") for address, (name, plan) in visitors.items()
    )
