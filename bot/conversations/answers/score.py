"""Scores: a rating from 1 to 5 or an NPS from 0 to 10, as digits, words ("seven"), "8/10" or stars."""

from __future__ import annotations

import re

from bot.conversations.answers.cleaning import SHORT, ascii_digits, words
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.schema import AskStep

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
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
    return _NUMBER_WORDS.get(token)


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
    if match["of"] is not None and _score_number(match["of"]) != high:  # "8/10" for a 1-5 rating
        return refused("out_of_range")
    if match["sign"] == "-":
        number = -number
    if not low <= number <= high:
        return refused("out_of_range")
    return accepted(number, str(number))


def parse_rating(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return _parse_score(text, 1, 5)


def parse_nps(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return _parse_score(text, 0, 10)
