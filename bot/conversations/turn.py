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
    # Every open run of the customer (active, waiting, set aside) as read with them (receive.py; none for a customer
    # the turn made), and each run the turn starts (FlowRuns.start): the turn's looks at their runs are answered from
    # these objects, as the turn changes them, not by a query each. None when not read: each look queries.
    open_runs: list[ConversationRun] | None = None
    # A customer the turn made (PostgreSQL): the id drawn with them for the first run it starts, whose row then goes
    # with the turn's replies (FlowRuns.start, bot/storage/later.py). None once used.
    first_run_id: int | None = None

    def say(self, reply: Reply) -> None:
        # A template that renders to nothing ("{{ customer.attributes.note }}" unset) is no message: an empty one
        # would reach the customer as a blank bubble (or be refused by Telegram).
        if reply.text.strip() or reply.buttons or reply.media:
            self.replies.append(reply)

    def runs_in(self, status: str, flow_id: str | None = None) -> list[ConversationRun] | None:
        """The customer's runs in `status` now (of `flow_id`), the last started first, as a query after a flush
        would find them; None when the turn does not know (query the database)."""
        if self.open_runs is None:
            return None
        found = [r for r in self.open_runs if r.status == status and flow_id in (None, r.flow_id)]
        return sorted(found, key=lambda run: run.id, reverse=True)

    def started(self, run: ConversationRun) -> None:
        """A run this turn started, among the ones it knows."""
        if self.open_runs is not None:
            self.open_runs.append(run)
