"""Date answers: "today", year-month-day, or a day and month the customer wrote out (read as `dayfirst` says)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from dateutil import parser as date_parser

from bot.conversations.answers.cleaning import SHORT, ascii_digits, words
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.schema import AskStep

_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_YEAR_FIRST = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _show_date(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _read_date(text: str, ctx: AnswerContext) -> date | None:
    today = ctx.today or datetime.now(UTC).date()
    said = ascii_digits(words(text))
    if said in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[said])
    # Year first is year-month-day whatever dayfirst says: 2026-03-04 is 4 March.
    iso = _YEAR_FIRST.fullmatch(said)
    if iso:
        try:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError:
            return None
    # Read twice with different defaults: a day or a month the text does not give shows up
    # as a difference, and "March", "14" or "3pm" alone are not dates.
    read: list[date] = []
    for default in (datetime(today.year, 1, 1), datetime(today.year, 2, 2)):
        try:
            found = date_parser.parse(said, dayfirst=ctx.dayfirst, fuzzy=False, default=default)
        except (date_parser.ParserError, ValueError, OverflowError, TypeError):
            return None
        read.append(found.date())
    if read[0] != read[1]:
        return None
    return read[0]


def parse_date(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return refused("empty")
    if len(text) > SHORT:
        return refused("invalid_date")
    day = _read_date(text, ctx)
    if day is None:
        return refused("invalid_date")
    return accepted(day.isoformat(), _show_date(day))
