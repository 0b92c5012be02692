"""Which button a typed answer points to by its place: "the first one", "2nd", "option 3", "number two", "the last".

Shared by choices (and so by every question with buttons) and scores ("eight").
"""

from __future__ import annotations

import re

from bot.conversations.answers.cleaning import ascii_digits, words

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
_LAST = frozenset({"last", "final", "bottom"})
# Words around the place that say nothing more: "the second one", "option 3", "number two please", "#2".
_AROUND = frozenset({"the", "one", "option", "number", "no", "choice", "answer", "button", "please", "pls", "i", "pick",
                     "choose", "take", "ll", "will", "go", "for", "with"})  # fmt: skip
_TOKEN = re.compile(r"[a-z]+|\d+(?:st|nd|rd|th)?")


def position(text: str, count: int) -> int | None:
    """The 1-based place among `count` options that `text` names, or None when it names no place (or one out of
    range, or more than one)."""
    tokens = _TOKEN.findall(ascii_digits(words(text)))
    if tokens == ["one"]:
        return 1 if count >= 1 else None
    places = [place for token in tokens if (place := _place(token, count)) is not None]
    others = [token for token in tokens if _place(token, count) is None and token not in _AROUND]
    if len(places) != 1 or others:
        return None
    return places[0] if 1 <= places[0] <= count else None


def _place(token: str, count: int) -> int | None:
    if token in _LAST:
        return count
    if token in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[token]
    if token in NUMBER_WORDS and token != "one":  # "one" is mostly "the first one"'s filler; "1" is the number
        return NUMBER_WORDS[token]
    digits = token.rstrip("stndrh")
    if digits.isdigit() and len(digits) <= 3 and (digits == token or _suffix_fits(digits, token[len(digits) :])):
        return int(digits)
    return None


def _suffix_fits(digits: str, suffix: str) -> bool:
    """1st, 2nd, 3rd, 4th..., 11th, 12th, 13th: the suffix must be the one the number takes."""
    n = int(digits)
    if n % 100 in (11, 12, 13):
        return suffix == "th"
    return suffix == {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
