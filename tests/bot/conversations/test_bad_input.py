"""Whatever a customer sends, the bot answers politely, stores it, and keeps working (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Settings
from bot.conversations.models import ACTIVE
from bot.core import Core
from bot.messages import Media
from bot.transcript import Message
from tests.bot.conversations.test_engine_steps import (
    another_customer,
    copy_engine_flows,
    customer,
    engine_settings,
    latest_run,
    rows,
    texts_of,
)
from tests.conftest import Chat

MENU = ["Report a problem", "Give feedback", "Talk to a person"]


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    return copy_engine_flows(tmp_path)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return engine_settings(tmp_path, database_url, flows_dir)


async def inbound_texts(core: Core, chat: Chat) -> list[str | None]:
    person = await customer(core, chat)
    stored = await rows(core, Message, Message.customer_id == person.id, Message.direction == "in")
    return [m.text for m in stored]


@dataclass(frozen=True)
class Odd:
    """One odd message: what is sent, a part of the polite answer, and the text the transcript keeps."""

    case: str
    text: str | None = None
    media: Media | None = None
    choice: str | None = None
    name: str = "Ana Lima"
    reply: str = ""
    stored: str | None = None
    buttons: list[str] | None = None  # the buttons under the answer, when they matter


HUGE = ("I want to complain. " * 250).strip() + "!"  # 5000 characters
FALLBACK = "Sorry, I didn't understand that."
SMALL_TALK = "Happy to help!"  # "hello", an emoji: a friendly word and the menu, not "I didn't understand"
ODD_MESSAGES = [
    Odd("empty", text="", reply="I didn't catch anything there."),
    Odd("whitespace", text="  \n\t  ", reply="I didn't catch anything there.", stored="  \n\t  "),
    Odd("huge", text=HUGE, reply="That message is too long (5000 characters). Please keep it under 4096.", stored=HUGE),
    Odd("NUL bytes", text="hel\x00lo\x00 world", name="Ana\x00 Lima", reply=SMALL_TALK, stored="hello world"),
    Odd("only NUL bytes", text="\x00\x00\x00", reply="I didn't catch anything there.", stored=""),
    Odd("control characters", text="\x1b[31mred\x07\x7f", reply=FALLBACK, stored="[31mred"),
    Odd("lone surrogates", text="abc\ud800def\udfff", reply=FALLBACK, stored="abc\ufffddef\ufffd"),
    Odd("a surrogate pair", text="\ud83d\ude00", reply=SMALL_TALK, stored="😀"),
    Odd("emoji only", text="😀🎉🦄", reply=SMALL_TALK, stored="😀🎉🦄", buttons=MENU),
    Odd("Arabic", text="مرحبا، أريد المساعدة", reply=FALLBACK, stored="مرحبا، أريد المساعدة"),
    Odd("Hebrew", text="שלום, אני צריך עזרה", reply=FALLBACK, stored="שלום, אני צריך עזרה"),
    Odd("unknown command", text="/foo", reply="I don't know the command /foo.", stored="/foo", buttons=MENU),
    Odd(
        "unknown command with a bot name",
        text="/foo@engagebot now",
        reply="I don't know the command /foo.",
        buttons=MENU,
    ),
    Odd("template syntax", text="{{ 7*7 }} {% raw %}", reply=FALLBACK, stored="{{ 7*7 }} {% raw %}"),
    Odd("a sticker", media=Media("sticker", "sticker-1"), reply="Sorry, I can't read that kind of message here."),
    Odd("a location", media=Media("location", "52.5,13.4"), reply="Sorry, I can't read that kind of message here."),
    Odd("a made-up button", choice="a:999:0:1", reply="That question has already been answered."),
    Odd("a huge garbage button", choice="x" * 10_000, reply="That question has already been answered."),
    Odd("a button with NUL bytes", choice="f:\x00survey\ud800", reply="That question has already been answered."),
    Odd("a very long name", text="hello there", name="N" * 5000, reply=SMALL_TALK, stored="hello there"),
]


async def test_odd_messages_get_a_polite_answer_are_stored_and_the_bot_keeps_working(core: Core) -> None:
    for odd in ODD_MESSAGES:
        chat = another_customer(core, odd.case)
        chat.name = odd.name
        await chat.say("hi")  # first contact out of the way

        reply = texts_of(await chat.send(odd.text, media=odd.media, choice=odd.choice))
        assert odd.reply in reply, (odd.case, reply)
        assert "49" not in reply, odd.case
        if odd.buttons is not None:
            assert chat.buttons() == odd.buttons, odd.case

        assert "How can I help?" in await chat.say("menu"), odd.case  # still answering
        stored = await inbound_texts(core, chat)
        expected = odd.stored if odd.stored is not None or odd.text is None else odd.text
        assert stored == ["hi", expected or None, "menu"], odd.case


async def test_nul_bytes_and_surrogates_in_an_answer_are_cleaned_before_they_are_saved(chat: Chat, core: Core) -> None:
    await chat.say("/ask_text")
    assert (await chat.say("caf\x00é \ud800!")).endswith("Saved.")
    assert (await latest_run(core, "ask_text")).answers == {"answer": "café \ufffd!"}


async def test_right_to_left_and_emoji_answers_are_saved_as_written(core: Core) -> None:
    for text in ["مرحبا، أريد المساعدة", "שלום, אני צריך עזרה", "😀🎉", "مرحبا hello שלום 123"]:
        chat = another_customer(core, text)
        await chat.say("/ask_text")
        assert (await chat.say(text)).endswith("Saved."), text
        assert (await latest_run(core, "ask_text", chat)).answers == {"answer": text}, text


async def test_template_syntax_in_a_name_and_in_answers_stays_literal(chat: Chat) -> None:
    chat.name = "{{ 7*7 }} {% raw %}"
    assert "Hi {{ 7*7 }} {% raw %}, say something." in await chat.say("/echo")
    reply = await chat.say("{{ 7*7 }} and {% raw %}{{ 6*7 }}{% endraw %}")
    assert reply == "You said: {{ 7*7 }} and {% raw %}{{ 6*7 }}{% endraw %}"
    assert "49" not in reply and "42" not in reply


OUT_OF_RANGE = [
    # (flow asking the question, an answer outside its range, the hint that comes back)
    ("ask_nps", "11", "Please pick a number from 0 (not at all likely) to 10 (extremely likely)."),
    ("ask_nps", "-1", "Please pick a number from 0 (not at all likely) to 10 (extremely likely)."),
    ("ask_rating", "6", "Please give a rating from 1 to 5."),
    ("ask_rating", "0", "Please give a rating from 1 to 5."),
    ("ask_number", "0", "Please send a number from 1 to 500."),
    ("ask_number", "501", "Please send a number from 1 to 500."),
    ("ask_choice", "7", "Please choose one of the options."),
    ("ask_yes_no", "maybe", "Please answer yes or no."),
    ("ask_date", "32/13/2026", "I couldn't read that date. Try a format like 2026-03-14 or 14 March."),
    ("ask_email", "ana@", "That doesn't look like an email address. Could you check it?"),
    ("ask_media", "here it is", "Please send a photo or file, or press Skip."),
]


async def test_answers_out_of_range_are_asked_again_and_nothing_is_saved(core: Core) -> None:
    for flow_id, answer, hint in OUT_OF_RANGE:
        chat = another_customer(core, f"{flow_id} {answer}")
        await chat.say(f"/{flow_id}")
        question = chat.last[-1].text.split("\n\n")[-1]  # a new customer's: one sentence of welcome opens it
        assert await chat.say(answer) == f"{hint}\n{question}", (flow_id, answer)
        run = await latest_run(core, flow_id, chat)
        assert (run.status, run.awaiting_answer, run.answers) == (ACTIVE, True, {}), (flow_id, answer)


async def test_a_too_long_answer_is_refused_kept_in_the_transcript_and_the_question_stays_open(
    chat: Chat, core: Core
) -> None:
    await chat.say("/ask_text")
    reply = await chat.say(HUGE)
    assert reply.startswith("That message is too long (5000 characters).")
    assert reply.endswith("What's your favourite colour?")
    assert (await latest_run(core, "ask_text")).answers == {}
    assert HUGE in await inbound_texts(core, chat)
    assert (await chat.say("Green")).endswith("Saved.")


async def test_a_sticker_during_a_question_gets_a_polite_reply_and_the_question_again(chat: Chat, core: Core) -> None:
    await chat.say("/ask_text")
    reply = texts_of(await chat.send(media=Media("sticker", "sticker-1")))
    assert (
        reply
        == "Sorry, I can't read that kind of message here. Could you type it instead?\nWhat's your favourite colour?"
    )
    assert (await chat.say("Green")).endswith("Saved.")
    assert (await latest_run(core, "ask_text")).answers == {"answer": "Green"}
