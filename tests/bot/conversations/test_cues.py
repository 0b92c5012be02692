"""The cues read besides a message's words (tone, question, past, nobody: bot/conversations/cues.py), and what
they change in the verdict on the starter flows: complaints in words no example has, questions no flow answers
that share a topic word with a flow, and happy words that start nothing."""

from __future__ import annotations

import pytest

from bot.conversations.cues import BAD, GOOD, NOBODY, PAST, QUESTION, asks, cues
from bot.conversations.understanding import Understanding
from bot.conversations.wording import words
from tests.bot.conversations import test_intents

understanding = test_intents.understanding  # the fixture: the verdicts of the starter flows


def cue_texts(text: str) -> list[str]:
    return [c.text for c in cues(text, words(text))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("this is ridiculous", [BAD]),
        ("I'm not happy", [BAD]),  # a negation flips the word it governs...
        ("I can't stop smiling", [GOOD]),  # ... not the next one
        ("no thanks, I'm good", [GOOD]),  # the "no" answered; "good" is not negated
        ("what time do you close", [QUESTION + "what_time"]),
        ("hi, what's your phone number?", [QUESTION + "what_your"]),  # a greeting first changes nothing
        ("it stopped working", [PAST]),
        ("my parcel didn't arrive", [PAST]),
        ("nobody has contacted me", [PAST, NOBODY]),
        ("parcel", []),
    ],
)
def test_cues_of_a_message(text: str, expected: list[str]) -> None:
    assert cue_texts(text) == expected


def test_a_question_is_told_by_its_opening_or_its_question_mark() -> None:
    assert asks("do you ship to Canada") and asks("delivery to Ireland?")
    assert not asks("the staff at the store were rude")


@pytest.mark.parametrize(
    ("text", "result"),
    [
        # Complaints in words no example has: the tone says it.
        ("this is outrageous", "complaint"),
        ("absolutely appalling", "complaint"),
        ("I'm livid", "complaint"),
        ("this is not acceptable", "complaint"),  # as the examples' "unacceptable"
        # Told in the past, a topic word of another intent is what happened, not what is asked for.
        ("the product stopped working", "complaint"),
        ("you cancelled my order without telling me", "complaint"),
        ("your agent was rude", "complaint"),
        # Statements are not the questions no flow answers, whatever their topic words.
        ("staff at the store were very unfriendly", "complaint"),
        ("i ordered 3 shirts and only got 2", "complaint"),
        ("i have been on hold for an hour", "complaint"),
    ],
)
def test_problems_worded_unlike_any_example_are_complaints(
    understanding: Understanding, text: str, result: str
) -> None:
    verdict = understanding.understand(text)
    assert (verdict.kind, verdict.result) == ("intent", result), verdict


@pytest.mark.parametrize(
    "text",
    [
        "what time do you close",  # not a cancellation ("close my account")
        "are you open on bank holidays",
        "how much is delivery to Ireland",  # not a complaint about delivery
        "do you have this in a larger size",
        "I can't stop smiling",  # not stop
        "I love the new update",
        "this is unbelievable, what a great service",
        "no thanks, I'm good",
    ],
)
def test_questions_no_flow_answers_and_happy_words_start_nothing(understanding: Understanding, text: str) -> None:
    verdict = understanding.understand(text)
    assert (verdict.kind, verdict.result) == ("none", None), verdict
