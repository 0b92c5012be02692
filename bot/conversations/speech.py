"""The bot's own texts (config `texts:`) rendered for the customer, and the menu offered under some of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot import templating
from bot.config import Texts
from bot.conversations import buttons
from bot.conversations.registry import FlowRegistry
from bot.messages import Button, Reply


@dataclass
class Speech:
    """The bot's own texts, rendered with the business name, as replies or with the menu."""

    business_name: str
    texts: Texts
    registry: FlowRegistry

    def render(self, template: str, **extra: Any) -> str:
        return templating.render(template, {"business": {"name": self.business_name}, **extra})

    def reply(self, template: str, **extra: Any) -> Reply:
        return Reply(self.render(template, **extra))

    def menu(self, template: str, **extra: Any) -> Reply:
        """The text with a button for each menu flow in force and one to talk to a person."""
        menu = [Button(label, buttons.FlowButton(flow_id).value) for label, flow_id in self.registry.indexes.menu]
        menu.append(Button(self.texts.talk_to_human, buttons.WordButton("human").value))
        return Reply(self.render(template, **extra), tuple(menu))
