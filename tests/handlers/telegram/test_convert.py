"""Pure translation between Telegram updates and the core's vocabulary: no network, no database."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.messages import Button, Media, Reply
from handlers.telegram import convert
from handlers.telegram.convert import CHANNEL, callback_to_inbound, chosen_label, keyboard_for, media_of
from tests.support.botapi_standin import BotApiStandIn


@pytest.fixture
def api() -> BotApiStandIn:
    return BotApiStandIn()  # only its update builders: nothing is served


def update(data: dict[str, Any]) -> Update:
    parsed = Update.de_json(data, None)
    assert parsed is not None
    return parsed


def rows(markup: InlineKeyboardMarkup | None) -> list[list[str]]:
    assert markup is not None
    return [[b.text for b in row] for row in markup.inline_keyboard]


def question(labels: list[str], kind: str | None) -> Reply:
    return Reply("?", tuple(Button(label, f"a:1:0:{i}") for i, label in enumerate(labels)), answer_kind=kind)


# ---- keyboards -----------------------------------------------------------------------------------------------------


def test_nps_is_two_rows_and_skip_goes_below() -> None:
    scale = [str(n) for n in range(11)]
    assert rows(keyboard_for(question(scale, "nps"))) == [scale[:6], scale[6:]]
    assert rows(keyboard_for(question([*scale, "Skip"], "nps"))) == [scale[:6], scale[6:], ["Skip"]]


def test_ratings_and_yes_no_are_one_row_choices_are_stacked() -> None:
    assert rows(keyboard_for(question(["1", "2", "3", "4", "5"], "rating"))) == [["1", "2", "3", "4", "5"]]
    assert rows(keyboard_for(question(["1", "2", "3", "4", "5", "Skip"], "rating"))) == [
        ["1", "2", "3", "4", "5"], ["Skip"]
    ]  # fmt: skip
    assert rows(keyboard_for(question(["Yes", "No"], "yes_no"))) == [["Yes", "No"]]
    labels = ["Just for me", "For my work", "For my team or company"]
    assert rows(keyboard_for(question(labels, "choice"))) == [[label] for label in labels]
    menu = Reply("Menu", (Button("Give feedback", "f:nps"), Button("Talk to a person", "g:human")))
    assert rows(keyboard_for(menu)) == [["Give feedback"], ["Talk to a person"]]


def test_buttons_carry_their_payload_and_over_long_ones_are_left_out() -> None:
    reply = Reply("?", (Button("A" * 80, "a:1:0:0"), Button("Broken", "f:" + "x" * 70)))
    markup = keyboard_for(reply)
    assert markup is not None
    (only,) = [b for row in markup.inline_keyboard for b in row]
    assert (len(only.text), only.callback_data) == (64, "a:1:0:0")
    assert keyboard_for(Reply("no buttons")) is None


# ---- splitting long texts --------------------------------------------------------------------------------------------


def test_short_texts_are_one_piece_and_blank_ones_none() -> None:
    assert convert.split_text("Hello") == ["Hello"]
    assert convert.split_text("x" * 4096) == ["x" * 4096]
    assert convert.split_text("") == [] and convert.split_text(" \n ") == []  # Telegram refuses blank messages


def test_long_texts_are_cut_at_paragraphs_then_lines_then_words() -> None:
    paragraph = "word " * 600  # 3000 characters
    text = paragraph.strip() + "\n\n" + paragraph.strip() + " tail"
    assert convert.split_text(text) == [paragraph.strip(), paragraph.strip() + " tail"]  # not at the later spaces
    lines = ("a line of text " * 10 + "\n") * 40  # no paragraph breaks
    pieces = convert.split_text(lines)
    assert all(len(p) <= 4096 for p in pieces) and all(p.endswith("a line of text") for p in pieces)
    words = "lorem " * 1500
    pieces = convert.split_text(words)
    assert all(len(p) <= 4096 and not p.endswith("lore") for p in pieces)
    assert " ".join(pieces) == words.strip()


def test_text_without_boundaries_is_cut_hard_and_nothing_is_lost() -> None:
    text = "é" * 9000
    pieces = convert.split_text(text)
    assert [len(p) for p in pieces] == [4096, 4096, 808] and "".join(pieces) == text


# ---- incoming messages -----------------------------------------------------------------------------------------------


def test_a_text_message_becomes_an_inbound_with_the_update_id(api: BotApiStandIn) -> None:
    data = api.text_update(42, "Hello there", first_name="Ana")
    inbound = convert.message_to_inbound(update(data))
    assert inbound is not None
    assert (inbound.channel, inbound.address, inbound.text) == (CHANNEL, "42", "Hello there")
    assert inbound.message_id == f"u{data['update_id']}"
    assert (inbound.display_name, inbound.language, inbound.start_payload) == ("Ana", "en", None)


@pytest.mark.parametrize(
    ("text", "payload"),
    [("/start", None), ("/start abc_DEF-123", "abc_DEF-123"), ("/start " + "c" * 80, "c" * 64), ("/startle", None),
     ("/start ", None), ("/start   ", None)],
)  # fmt: skip
def test_start_payloads_are_the_deep_link_code(api: BotApiStandIn, text: str, payload: str | None) -> None:
    for inbound in (convert.message_to_inbound(update(api.text_update(42, text))),
                    convert.plain_text_inbound(api.text_update(42, text))):  # fmt: skip
        assert inbound is not None
        assert inbound.start_payload == payload
        assert inbound.text == ("/start" if payload or text.startswith("/start ") else text)


def test_media_kinds(api: BotApiStandIn) -> None:
    photo = convert.message_to_inbound(update(api.photo_update(42, "big-photo", caption="the box")))
    assert photo is not None and photo.media == Media("photo", "big-photo", "the box")  # the largest size
    assert photo.text == "the box"
    document = convert.message_to_inbound(update(api.document_update(42, "doc-1")))
    assert document is not None and document.media == Media("document", "doc-1", "") and document.text is None
    sticker = update(api.sticker_update(42, "st-1"))
    assert sticker.message is not None and media_of(sticker.message) == Media("sticker", "st-1")
    location = update(api.location_update(42))
    assert location.message is not None and media_of(location.message) == Media("location")
    contact = update(api.contact_update(42, "+351911111111"))
    assert contact.message is not None and media_of(contact.message) == Media("contact")
    text = update(api.text_update(42, "plain"))
    assert text.message is not None and media_of(text.message) is None


@pytest.mark.parametrize(
    ("text", "last_name", "language"),
    [("Online", None, "en"), ("/start abc_DEF-123", "Lima", None), ("/survey", None, "pt-BR"), ("ça va ✓", "", "fr")],
)
def test_a_plain_text_update_reads_the_same_from_its_json(
    api: BotApiStandIn, text: str, last_name: str | None, language: str | None
) -> None:
    data = api.text_update(42, text, first_name="Ana", language_code=language)
    if last_name is not None:
        data["message"]["from"]["last_name"] = last_name
    assert convert.plain_text_inbound(data) == convert.message_to_inbound(update(data))


def test_anything_but_a_plain_private_text_message_is_left_to_python_telegram_bot(api: BotApiStandIn) -> None:
    with_reply = api.text_update(42, "yes")
    with_reply["message"]["reply_to_message"] = api.text_update(42, "question")["message"]
    no_sender = api.text_update(42, "hi")
    no_sender["message"]["from"] = {"id": "not a number", "first_name": "Ana"}
    for data in (
        api.photo_update(42, "big-photo", caption="the box"), api.edited_text_update(42, 1, "changed"),
        api.callback_update(42, 7, "a:1:2:1"), api.group_text_update(-42, "hello"), with_reply, no_sender,
        {"update_id": 1}, {"update_id": "1", "message": {}}, None, [1, 2],
    ):  # fmt: skip
        assert convert.plain_text_inbound(data) is None, data


def test_edits_are_not_messages(api: BotApiStandIn) -> None:
    assert convert.message_to_inbound(update(api.edited_text_update(42, 1, "changed"))) is None


def test_a_button_press_becomes_a_choice_and_its_label_is_found(api: BotApiStandIn) -> None:
    data = api.callback_update(42, 7, "a:1:2:1")
    data["callback_query"]["message"]["reply_markup"] = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Just for me", callback_data="a:1:2:0")],
         [InlineKeyboardButton("For my work", callback_data="a:1:2:1")]]
    ).to_dict()  # fmt: skip
    parsed = update(data)
    inbound = callback_to_inbound(parsed)
    assert inbound is not None
    assert (inbound.address, inbound.choice, inbound.text) == ("42", "a:1:2:1", None)
    assert inbound.message_id == f"u{data['update_id']}"
    assert parsed.callback_query is not None
    assert chosen_label(parsed.callback_query.message, "a:1:2:1") == "For my work"
    assert chosen_label(parsed.callback_query.message, "a:9:9:9") is None
