"""A new customer's first message: what it asks for comes first, and onboarding waits its turn.

A first message that starts something when no flow is waiting (a complaint, a person, a cancellation, stop, the
menu, a command: the route stage's own decision, `Router.starts`) is acted on at once, one sentence of welcome
opening the answer; the first_contact flow (onboarding) is started later, when the customer is not busy (an outbox
row, as any deferred start), with `trigger.first_words` set so it can skip its long welcome. Anything else (a
greeting, a question nobody recognises, /start) starts onboarding at once, as before; so does a question about what
we are or do ("what is this?", which the matcher reads as the menu): onboarding's introduction answers it and names
the menu, which a new customer gets at once only by asking for it ("menu", "help").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.conversations.route import Router
from bot.conversations.runs import FIRST_CONTACT, FlowRuns
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.customers import records as customers
from bot.messages import Inbound, Reply

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
        texts, customer = self.speech.texts, customers.template_view(turn.customer)
        welcome = self.speech.reply(texts.first_words_welcome, customer=customer)
        answered_from = len(turn.replies)
        await self.router.route(turn, inbound)
        _put_in_front(turn, answered_from, welcome)
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


def _put_in_front(turn: Turn, index: int, welcome: Reply) -> None:
    """The welcome opens the answer's first message: one message, not two back to back, which Telegram (about a
    message a second per chat) would send only one after the other. A first reply with media is left whole and the
    welcome goes before it on its own. (A text past a channel's limit is split by its adapter, as any.)"""
    if not welcome.text.strip():
        return  # welcomes nobody: texts.first_words_welcome set to ""
    first = turn.replies[index] if index < len(turn.replies) else None
    if first is not None and first.media is None and first.text.strip():
        turn.replies[index] = replace(first, text=f"{welcome.text}\n\n{first.text}")
    else:
        turn.replies.insert(index, welcome)
