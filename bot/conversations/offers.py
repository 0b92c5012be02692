"""Which flows a customer may start by pressing a button: so a forged `f:` payload starts nothing internal.

A flow with a command, a menu entry or an intent is the customer's to start: they could as well type it.
Any other flow (started by an event, a `start_flow` step, a check-in, a flow campaign) starts from a button
only if the bot offered that very button to this customer: under a `say` step or in a campaign message,
both of which are in their transcript.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import transcript
from bot.conversations import schema as s
from bot.conversations.buttons import FlowButton

_CUSTOMER_TRIGGERS = (s.CommandTrigger, s.MenuTrigger, s.IntentTrigger)


def customer_may_start(flow: s.Flow) -> bool:
    """Does the flow have a trigger the customer can use themselves (a command, a menu entry, an intent)?"""
    return any(isinstance(trigger, _CUSTOMER_TRIGGERS) for trigger in flow.triggers)


async def was_offered(session: AsyncSession, customer_id: int, button: FlowButton) -> bool:
    """Did a message to this customer carry this button?"""
    return await transcript.offered_button(session, customer_id, button.value) is not None
