"""What a customer sent, turned into a typed answer for an `ask` step: one module per kind of answer.

Pure functions: no I/O, no database, no clock other than `date.today()` when no day is given.
Nothing here raises on what a customer may send (empty, huge, binary-looking, emoji, RTL text):
a refusal is a `Parsed` with `ok=False` and a short internal `error` code, such as

    empty, no_match, ambiguous, out_of_range, not_a_number, not_an_integer, not_yes_no,
    invalid_email, invalid_phone, invalid_date, media_expected, text_expected.

    parse.py     the entry: skip words, media, and the parser of each kind
    parsed.py    the result (`Parsed`) and the settings reading depends on (`AnswerContext`)
    cleaning.py  typed text made fit to save and to match words
    choice.py, yes_no.py, score.py, number.py, contact.py, date.py   one kind each
"""

from bot.conversations.answers.choice import answer_options, parse_choice_index
from bot.conversations.answers.parse import (
    ATTACHABLE_MEDIA,
    SKIP_WORDS,
    SKIPPED,
    parse_media_answer,
    parse_text_answer,
)
from bot.conversations.answers.parsed import AnswerContext, Parsed

__all__ = [
    "ATTACHABLE_MEDIA",
    "SKIPPED",
    "SKIP_WORDS",
    "AnswerContext",
    "Parsed",
    "answer_options",
    "parse_choice_index",
    "parse_media_answer",
    "parse_text_answer",
]
