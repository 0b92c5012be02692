"""A pressed button shows its label in every transcript: the message is stored with the label the customer saw as its
text and the button's value in its payload, so the web chat, a hand-off ticket's recent lines (posted to Slack) and
the customer's export show what was chosen. A payload the bot never showed has no label to show."""

from __future__ import annotations

from bot.core import Core
from bot.customers import privacy
from bot.tickets.models import Ticket
from bot.transcript import Message
from tests.bot.conversations.test_engine_steps import customer, rows
from tests.conftest import Chat


async def test_a_pressed_button_is_stored_with_its_label_and_its_value(chat: Chat, core: Core) -> None:
    await chat.say("hi")
    value = next(b.value for r in chat.last for b in r.buttons if b.label == "For my work")
    await chat.send(choice=value)
    pressed = (await rows(core, Message, Message.direction == "in"))[-1]
    assert (pressed.text, pressed.payload) == ("For my work", {"choice": value})


async def test_the_labels_reach_the_hand_off_ticket_and_the_export(chat: Chat, core: Core) -> None:
    await chat.say("hi")
    await chat.press("For my work")
    await chat.press("No")
    await chat.say("talk to a person")
    (ticket,) = await rows(core, Ticket)
    assert "customer: For my work\n" in ticket.description and "customer: No\n" in ticket.description
    customer_id = (await customer(core)).id
    async with core.db.transaction() as session:
        exported = await privacy.export(session, customer_id)
    assert exported is not None
    said = [m["text"] for m in exported.to_json()["messages"] if m["direction"] == "in"]
    assert said == ["hi", "For my work", "No", "talk to a person"]


async def test_a_payload_the_bot_never_showed_is_stored_without_a_label(chat: Chat, core: Core) -> None:
    await chat.say("hi")
    await chat.send(choice="a:1:1:0")  # well formed, but no message carried it
    forged = (await rows(core, Message, Message.direction == "in"))[-1]
    assert (forged.text, forged.payload) == (None, {"choice": "a:1:1:0"})
    assert chat.last[-1].text == "That question has already been answered."
