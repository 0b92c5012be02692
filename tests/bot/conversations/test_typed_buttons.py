"""Typed answers to questions with buttons: what a customer types instead of pressing ("yep", a thumbs-up, "the
first one", "quite a lot", "8/10", "eight", a label with typos) is taken as that button; an answer that fits no
button, or fits two, is refused so the question is asked again."""

from __future__ import annotations

import pytest

from bot.conversations.answers import parse_text_answer
from tests.bot.conversations.test_answers import CTX, accepted, ask, refused
from tests.conftest import Chat

IMPACT = [
    {"label": "A little, no rush", "value": "low"},
    {"label": "Quite a lot", "value": "normal"},
    {"label": "A lot, it's urgent", "value": "high"},
]
CONSENT = [{"label": "Yes, please", "value": "in"}, {"label": "No thanks", "value": "out"}]


@pytest.mark.parametrize(
    ("text", "saved"),
    [
        ("the first one", "low"), ("first", "low"), ("1st", "low"), ("the 2nd", "normal"), ("second one", "normal"),
        ("number two", "normal"), ("option 3", "high"), ("no. 3", "high"), ("the last one", "high"), ("last", "high"),
        ("I'll take the second", "normal"), ("one", "low"), ("3", "high"),
        ("quite a lot", "normal"), ("Quite a lot!", "normal"), ("qiute a lot", "normal"), ("quite alot", "normal"),
        ("urgent", "high"), ("no rush", "low"),
    ],
)  # fmt: skip
def test_a_typed_place_or_label_is_taken_as_the_button(text: str, saved: str) -> None:
    accepted(parse_text_answer(ask("choice", choices=IMPACT), text, CTX), saved)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a lot", "ambiguous"),  # fits two buttons
        ("the fourth one", "no_match"),  # there are three
        ("4", "out_of_range"),
        ("not the first one", "no_match"),
        ("the first and the second", "no_match"),
        ("banana", "no_match"),
    ],
)
def test_a_typed_answer_that_fits_no_single_button_is_refused(text: str, error: str) -> None:
    refused(parse_text_answer(ask("choice", choices=IMPACT), text, CTX), error)


@pytest.mark.parametrize(
    ("text", "saved"),
    [("yes", "in"), ("yep", "in"), ("sure", "in"), ("👍", "in"), ("👍🏽", "in"), ("absolutely", "in"),
     ("no", "out"), ("nope", "out"), ("nah", "out"), ("👎", "out"), ("not now", "out")],
)  # fmt: skip
def test_yes_or_no_typed_to_options_that_open_with_yes_and_no(text: str, saved: str) -> None:
    accepted(parse_text_answer(ask("choice", choices=CONSENT), text, CTX), saved)


def test_a_yes_to_options_that_are_not_yes_or_no_is_refused() -> None:
    refused(parse_text_answer(ask("choice", choices=IMPACT), "yes", CTX), "no_match")


@pytest.mark.parametrize(
    ("text", "said"),
    [("yes", True), ("yep", True), ("sure", True), ("👍", True), ("👌", True), ("sounds good", True),
     ("go ahead", True), ("definitely", True), ("why not", True), ("no", False), ("nope", False),
     ("not now", False), ("no way", False), ("👎", False)],
)  # fmt: skip
def test_yes_no_synonyms_and_emoji(text: str, said: bool) -> None:
    accepted(parse_text_answer(ask("yes_no"), text, CTX), said)


@pytest.mark.parametrize("text", ["maybe", "fine", "no idea", "yes and no"])
def test_a_yes_no_answer_that_is_neither_is_refused(text: str) -> None:
    refused(parse_text_answer(ask("yes_no"), text, CTX), "not_yes_no")


@pytest.mark.parametrize(
    ("expect", "text", "value"),
    [("nps", "8/10", 8), ("nps", "eight", 8), ("rating", "8/10", 4),
     ("rating", "four", 4), ("rating", "4 out of 5", 4)],
)  # fmt: skip
def test_scores_typed_as_words_or_on_another_scale(expect: str, text: str, value: int) -> None:
    accepted(parse_text_answer(ask(expect), text, CTX), value)


async def test_a_complaint_answered_by_typing_instead_of_pressing_opens_the_ticket(chat: Chat) -> None:
    await chat.say("hi")
    await chat.say("the first one")  # "Just for me"
    assert "Can I check in with you" in chat.last[-1].text
    assert "No problem, I won't check in." in await chat.say("nah")
    await chat.say("/complain")
    await chat.say("The parcel never arrived")
    assert "Which of these is it mostly about?" in chat.last[-1].text
    await chat.say("order and delivry")
    await chat.say("skip")
    final = await chat.say("quite a lot")
    assert "Your reference is C-1001." in final


async def test_an_answer_that_fits_no_button_is_asked_again_clearly(chat: Chat) -> None:
    await chat.say("/complain")
    await chat.say("The parcel never arrived")
    again = await chat.say("the seventh one")
    assert again.startswith("Please choose one of the options.\nThank you. Which of these is it mostly about?")
    assert "Order & delivery" in chat.buttons()
