"""Number answers: one rule for thousands and decimal separators ("1,000", "3,5", "1.234,5"), within the
step's min and max."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from bot.conversations.answers.cleaning import DASHES, SHORT, ascii_digits
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.schema import AskStep

_GROUP_BLANKS = " '\u00a0\u202f\u2009"  # 1 000, 1'000 (Swiss), no-break and thin spaces
_NUMBER_BODY = re.compile(r"[0-9][0-9.,' \u00a0\u202f\u2009]*|[.,][0-9]+")


def _grouped(integer: str, separator: str) -> str | None:
    """'1,234,567' -> '1234567' if the groups are of three digits (the first of one to three)."""
    groups = integer.split(separator)
    if not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]):
        return None
    return "".join(groups)


def read_number(text: str) -> Decimal | None:
    """The number in `text`, or None.

    Separators (the one rule that decides "1,000" and "3,5"):
    - blanks and apostrophes only group thousands: "1 000", "1'000";
    - with both "," and ".", the one written last is the decimal mark: "1,234.5", "1.234,5";
    - one of them written more than once groups thousands: "1,000,000", "1.000.000";
    - a single "." is the decimal mark: "1.5", and "1.000" is 1;
    - a single "," groups thousands when exactly three digits follow it and one to three
      digits (not a lone 0) precede it: "1,000" and "12,500" are thousands, while "3,5",
      "3,25", "0,125" and "1234,5" use it as the decimal mark.
    """
    text = ascii_digits(unicodedata.normalize("NFKC", text)).translate(DASHES)
    text = text.replace("\u066b", ".").replace("\u066c", ",").strip()  # Arabic decimal, group
    if not text or len(text) > SHORT:
        return None
    sign = ""
    if text[0] in "+-":
        sign, text = ("-" if text[0] == "-" else ""), text[1:].lstrip()
    if not _NUMBER_BODY.fullmatch(text) or not text[-1].isdigit():
        return None
    # Blanks group thousands only, and only between digits.
    for blank in _GROUP_BLANKS:
        if blank in text:
            head = re.split(r"[.,]", text, maxsplit=1)[0]
            if blank not in head or _grouped(head, blank) is None:
                return None
            text = text.replace(blank, "")
    commas, dots = text.count(","), text.count(".")
    integer, fraction = text, ""
    if commas and dots:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        group_mark = "." if decimal_mark == "," else ","
        if text.count(decimal_mark) != 1:
            return None
        head, fraction = text.split(decimal_mark)
        integer = _grouped(head, group_mark) or ""
        if not integer:
            return None
    elif commas > 1 or dots > 1:
        integer = _grouped(text, "," if commas else ".") or ""
        if not integer:
            return None
    elif dots == 1:
        integer, fraction = text.split(".")
    elif commas == 1:
        head, tail = text.split(",")
        if len(tail) == 3 and 1 <= len(head) <= 3 and head != "0":
            integer = head + tail
        else:
            integer, fraction = head, tail
    if not (integer or fraction) or not (integer + fraction).isdigit():
        return None
    try:
        return Decimal(f"{sign}{integer or '0'}.{fraction or '0'}")
    except InvalidOperation:
        return None


def parse_number(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return refused("empty")
    number = read_number(text)
    if number is None:
        return refused("not_a_number")
    if step.min is not None and number < Decimal(str(step.min)):
        return refused("out_of_range")
    if step.max is not None and number > Decimal(str(step.max)):
        return refused("out_of_range")
    value: int | float = int(number) if number == number.to_integral_value() else float(number)
    return accepted(value, str(value))
