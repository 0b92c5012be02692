"""A new customer's first message: what it asks for comes first, and onboarding waits its turn.

A first message that starts something when no flow is waiting (a complaint, a person, a cancellation, stop, the
menu, a command: the route stage's own decision, `Router.starts`) gets one sentence of welcome in front of it and is
acted on at once; the first_contact flow (onboarding) is started later, when the customer is not busy (an outbox
row, as any deferred start), with `trigger.first_words` set so it can skip its long welcome. Anything else (a
greeting, a question nobody recognises, /start) starts onboarding at once, as before; so does a question about what
we are or do ("what is this?", which the matcher reads as the menu): onboarding's introduction answers it and names
the menu, which a new customer gets at once only by asking for it ("menu", "help").
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversations.route import Router
from bot.conversations.runs import FIRST_CONTACT, FlowRuns
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.customers import records as customers
from bot.messages import Inbound

# Global words that ask for something a new customer can have at once; "cancel" and "resubscribe" have
# nothing to act on yet.
_ASKING_WORDS = frozenset({"menu", "human", "stop"})


@dataclass
class FirstContact:
    """Greets a new customer and routes their first message (see the module docstring)."""

    router: Router
    runs: FlowRuns
    speech: Speech

    async def greet(self, turn: Turn, inbound: Inbound) -> None:
        asked = self.asks_for(inbound)
        if asked is None:
            started = await self.runs.start_event_flows(turn, FIRST_CONTACT, None)
            await self.router.route(turn, inbound, only_interrupts=started)
            return
        welcome = self.speech.texts.first_words_welcome
        turn.say(self.speech.reply(welcome, customer=customers.template_view(turn.customer)))
        await self.router.route(turn, inbound)
        for flow_id in self.runs.registry.indexes.events.get(FIRST_CONTACT, [])[:1]:
            await self.runs.defer_start(turn, flow_id, {"event": FIRST_CONTACT, "first_words": asked})

    def asks_for(self, inbound: Inbound) -> str | None:
        """The flow or global word a first message asks for, or None when it is onboarding's to answer."""
        text = (inbound.text or "").strip()
        if inbound.choice or inbound.media is not None or not text:
            return None
        found = self.router.starts(text)
        if found is None:
            return None
        kind, name = found
        if kind == "global":
            if name == "menu" and not self.router.understanding.global_words.match(text):
                return None  # "what is this?": onboarding's introduction is the answer
            return name if name in _ASKING_WORDS else None
        if name in self.runs.registry.indexes.events.get(FIRST_CONTACT, []):
            return None  # /start: onboarding is what they asked for
        return name
