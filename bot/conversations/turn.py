"""One unit of work for one customer: the session, the customer row, the clock reading, the replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations.models import ConversationRun
from bot.customers.models import Customer
from bot.messages import Reply


@dataclass
class Turn:
    session: AsyncSession
    customer: Customer
    now: datetime
    channel: str
    # No inbound message behind this turn (a resumed wait, an event, outreach): what it asks is proactive.
    proactive: bool = False
    replies: list[Reply] = field(default_factory=list)
    # Set when a flow opened a ticket this turn (for the hand-off texts).
    ticket: dict[str, Any] | None = None
    # The customer's active runs as read with the customer (receive.py), for the turn's first look at them.
    active_runs: list[ConversationRun] | None = None
    # For a customer this turn made: the runs it started (FlowRuns.start), the only runs they can have, so a look
    # at their runs needs no query (a new customer's first message looked twice). None for any other customer.
    runs_made: list[ConversationRun] | None = None

    def say(self, reply: Reply) -> None:
        # A template that renders to nothing ("{{ customer.attributes.note }}" unset) is no message: an empty one
        # would reach the customer as a blank bubble (or be refused by Telegram).
        if reply.text.strip() or reply.buttons or reply.media:
            self.replies.append(reply)

    def take_active_runs(self) -> list[ConversationRun] | None:
        """The active runs read with the customer, once: later looks query again, as the turn may change them."""
        runs, self.active_runs = self.active_runs, None
        return runs

    def made_runs(self, status: str, flow_id: str | None = None) -> list[ConversationRun] | None:
        """A made customer's runs in `status` (of `flow_id`), newest first, as the database would give them;
        None for any other customer (query the database)."""
        if self.runs_made is None:
            return None
        found = [r for r in self.runs_made if r.status == status and flow_id in (None, r.flow_id)]
        return sorted(found, key=lambda run: (run.updated_at, run.id), reverse=True)
