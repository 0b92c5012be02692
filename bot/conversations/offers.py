"""Which flows a customer may start by pressing a button: so a forged `f:` payload starts nothing internal.

A flow with a command, a menu entry or an intent is the customer's to start: they could as well type it.
Any other flow (started by an event, a `start_flow` step, a check-in, a flow campaign) starts from a button
only if the bot offered that very button to this customer: under a `say` step or in a campaign message,
both of which are in their transcript.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations import schema as s
from bot.conversations.buttons import FlowButton
from bot.transcript import Message

_CUSTOMER_TRIGGERS = (s.CommandTrigger, s.MenuTrigger, s.IntentTrigger)
_CANDIDATES = 20  # transcript rows that mention the payload, read back to find it as a button's value


def customer_may_start(flow: s.Flow) -> bool:
    """Does the flow have a trigger the customer can use themselves (a command, a menu entry, an intent)?"""
    return any(isinstance(trigger, _CUSTOMER_TRIGGERS) for trigger in flow.triggers)


async def was_offered(session: AsyncSession, customer_id: int, button: FlowButton) -> bool:
    """Did a message to this customer carry this button? The JSON text narrows the rows down in SQL (the value
    in quotes, so a text that only mentions it escapes them); the match itself is on the buttons' values."""
    needle = json.dumps(button.value)  # a flow id is ASCII letters, digits, _ and -: nothing json.dumps escapes
    query = (
        select(Message.payload)
        .where(
            Message.customer_id == customer_id,
            Message.direction == "out",
            cast(Message.payload, Text).contains(needle, autoescape=True),
        )
        .order_by(Message.id.desc())
        .limit(_CANDIDATES)
    )
    return any(_has_button(payload, button.value) for payload in (await session.execute(query)).scalars())


def _has_button(payload: Any, value: str) -> bool:
    listed = payload.get("buttons") if isinstance(payload, dict) else None
    return isinstance(listed, list) and any(isinstance(b, dict) and b.get("value") == value for b in listed)
