"""Route stage, the person side: what the customer sends while a person follows their ticket goes to that
ticket, and "talk to a person" opens one (or adds to theirs) with the recent transcript."""

from __future__ import annotations

from dataclasses import dataclass

from bot import transcript
from bot.config import Settings
from bot.conversations.answers import ATTACHABLE_MEDIA
from bot.conversations.models import CANCELLED
from bot.conversations.runs import Running
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.messages import Media
from bot.tickets import lifecycle
from bot.tickets import records as tickets
from bot.tickets.models import Ticket

RECENT_LINES = 12  # transcript lines a hand-off ticket starts with
_LINE_SIZE = 300


@dataclass
class Handoff:
    """Relays to, attaches to and opens the ticket a person follows for the customer."""

    settings: Settings
    speech: Speech

    async def relay_to_open_ticket(self, turn: Turn, text: str) -> bool:
        """Text for the person following the customer's open ticket, if they have one."""
        ticket = await tickets.latest_open_for_customer(turn.session, turn.customer.id)
        if ticket is None:
            return False
        await tickets.add_event(turn.session, ticket, "customer_message", turn.now, actor="customer", body=text)
        await lifecycle.customer_wrote(turn.session, ticket, text, turn.now)
        await self._say_added_to(turn, ticket)
        return True

    async def attach_to_open_ticket(self, turn: Turn, media: Media) -> bool:
        """A photo, document or video for the customer's open ticket, if they have one."""
        ticket = await tickets.latest_open_for_customer(turn.session, turn.customer.id)
        if ticket is None or media.kind not in ATTACHABLE_MEDIA:
            return False
        await tickets.attach(turn.session, ticket, {"kind": media.kind, "ref": media.ref}, turn.now)
        await lifecycle.customer_wrote(turn.session, ticket, f"({media.kind} attached) {media.caption}", turn.now)
        await self._say_added_to(turn, ticket)
        return True

    async def hand_off(self, turn: Turn, active: Running | None) -> None:
        """ "Talk to a person": open (or reuse) a hand-off ticket with the recent transcript."""
        existing = await tickets.latest_open_for_customer(turn.session, turn.customer.id)
        if existing is not None:
            await tickets.add_event(turn.session, existing, "human_requested", turn.now, actor="customer")
            await self._say_added_to(turn, existing)
            return
        if active is not None:
            active.run.finish(turn.now, CANCELLED)
        ticket = await tickets.open_ticket(
            turn.session, self.settings, customer_id=turn.customer.id, now=turn.now, kind="handoff",
            category="handoff", summary="Customer asked to talk to a person",
            description=await self._recent_transcript(turn), channel=turn.channel,
        )  # fmt: skip
        view = await tickets.template_view(turn.session, ticket, self.settings)
        turn.say(self.speech.reply(self.speech.texts.handoff, ticket=view))

    async def _say_added_to(self, turn: Turn, ticket: Ticket) -> None:
        view = await tickets.template_view(turn.session, ticket, self.settings)
        turn.say(self.speech.reply(self.speech.texts.handoff_existing, ticket=view))

    async def _recent_transcript(self, turn: Turn) -> str:
        rows = await transcript.latest(turn.session, turn.customer.id, RECENT_LINES)
        return "\n".join(
            f"{'customer' if m.direction == transcript.INBOUND else 'bot'}: {(m.text or '')[:_LINE_SIZE]}" for m in rows
        )
