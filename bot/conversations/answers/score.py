"""Scores: a rating from 1 to 5 or an NPS from 0 to 10, as digits, words ("seven"), "8/10" (on any scale that maps
onto a button: "8/10" is a 4 of 5) or stars."""

from __future__ import annotations

import re

from bot.conversations.answers.cleaning import SHORT, ascii_digits, words
from bot.conversations.answers.ordinal import NUMBER_WORDS
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.schema import AskStep

_STARS = frozenset("⭐🌟★*")
_SCORE = re.compile(
    r"(?P<sign>[+-]?)\s*(?P<n>\d{1,3}|[a-z]+)"
    r"(?:\s*(?:/|out of|of)\s*(?P<of>\d{1,3}|[a-z]+))?"
    r"(?:\s*(?:stars?|points?|pts))?"
)
_DECIMAL_SCORE = re.compile(r"[+-]?\s*\d*[.,]\d+(?:\s*(?:/|out of|of)\s*\d+)?(?:\s*(?:stars?|points?|pts))?")


def _score_number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return NUMBER_WORDS.get(token)


def _parse_score(text: str, low: int, high: int) -> Parsed:
    if not text:
        return refused("empty")
    said = ascii_digits(words(text))
    if len(said) > SHORT:
        return refused("not_a_number")
    compact = said.replace(" ", "")
    if compact and all(ch in _STARS for ch in compact):  # ⭐⭐⭐⭐
        count = len(compact)
        return accepted(count, str(count)) if low <= count <= high else refused("out_of_range")
    match = _SCORE.fullmatch(said)
    if match is None:
        return refused("not_an_integer" if _DECIMAL_SCORE.fullmatch(said) else "not_a_number")
    number = _score_number(match["n"])
    if number is None:
        return refused("not_a_number")
    if match["sign"] == "-":
        number = -number
    if match["of"] is not None:
        scale = _score_number(match["of"])
        # On another scale: "8/10" is a 4 of 5, "4/5" an 8 of 10; "7/10" falls between two buttons.
        if not scale or (number * high) % scale:
            return refused("out_of_range")
        number = number * high // scale
    if not low <= number <= high:
        return refused("out_of_range")
    return accepted(number, str(number))


def parse_rating(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return _parse_score(text, 1, 5)


def parse_nps(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return _parse_score(text, 0, 10)
