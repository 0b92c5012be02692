"""Route stage: what the words that work anywhere do (menu, cancel, human, stop, resubscribe), typed or pressed.
Which word a message is: intents.GlobalWords."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import ConversationSettings
from bot.conversations.handoff import Handoff
from bot.conversations.models import CANCELLED
from bot.conversations.registry import FlowRegistry
from bot.conversations.runner import subscribe, unsubscribe
from bot.conversations.runs import FlowRuns, Running
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn


@dataclass
class GlobalWordActions:
    """Carries out a global word for the customer."""

    settings: ConversationSettings
    registry: FlowRegistry
    runs: FlowRuns
    handoff: Handoff
    speech: Speech

    async def act(self, turn: Turn, word: str, active: Running | None) -> None:
        conv, texts = self.settings, self.speech.texts
        if word == "menu":
            turn.say(self.speech.menu(texts.menu))
        elif word == "cancel":
            if active is None:
                turn.say(self.speech.menu(texts.nothing_to_cancel))
                return
            active.run.finish(turn.now, CANCELLED)
            await self.runs.interrupted.drop_all(turn)
            turn.say(self.speech.menu(texts.cancelled))
        elif word == "human":
            if conv.human_flow and self.registry.current(conv.human_flow):
                await self.runs.start(turn, conv.human_flow, {"trigger": "human"})
            else:
                await self.handoff.hand_off(turn, active)
        elif word == "stop":
            if conv.stop_flow and self.registry.current(conv.stop_flow):
                await self.runs.start(turn, conv.stop_flow, {"trigger": "stop"})
            else:
                await unsubscribe(turn)
                turn.say(self.speech.reply(texts.unsubscribed))
        elif word == "resubscribe":
            subscribe(turn.customer)
            turn.say(self.speech.reply(texts.resubscribed))
