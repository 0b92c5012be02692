"""What a customer sent, turned into a typed answer for an `ask` step.

Pure functions: no I/O, no database, no clock other than `date.today()` when no day is given.
Nothing here raises on what a customer may send (empty, huge, binary-looking, emoji, RTL text):
a refusal is a `Parsed` with `ok=False` and a short internal `error` code, such as

    empty, no_match, ambiguous, out_of_range, not_a_number, not_an_integer, not_yes_no,
    invalid_email, invalid_phone, invalid_date, media_expected, text_expected.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from dateutil import parser as date_parser
from email_validator import EmailNotValidError, validate_email
from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import OSA

from bot.conversations.schema import AskStep
from bot.conversations.textmatch import fold


@dataclass(frozen=True, slots=True)
class Parsed:
    ok: bool
    value: Any = None  # what is saved in answers
    display: str = ""  # how the answer is shown back (e.g. the chosen label, "7", "Yes")
    error: str | None = None  # why it was refused (short, internal), None when ok


@dataclass(frozen=True, slots=True)
class AnswerContext:
    default_region: str = "US"
    dayfirst: bool = True
    choice_threshold: float = 75
    today: date | None = None  # for "today"/"tomorrow"/"yesterday"; default: today in UTC


# Said to an optional question, these skip it (the answer is saved as none).
SKIP_WORDS: frozenset[str] = frozenset({"skip", "pass", "-", "no thanks", "next"})
SKIPPED = Parsed(ok=True, value=None, display="Skipped")

# Longest input worth reading for the structured kinds (a phone number, a date, a score...).
_SHORT = 64
# A typed answer shorter than this (after rapidfuzz's processing) is not fuzzy-matched:
# WRatio scores "a" against "Bad" at 90.
_FUZZY_MIN_LENGTH = 3

_YES = frozenset({
    "yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "of course", "correct", "true",
    "👍", "✅",
})  # fmt: skip
_NO = frozenset({"no", "n", "nope", "nah", "not really", "false", "👎", "❌"})
# Words that make "no idea", "no problem" or "yes maybe" something other than a plain yes or no.
_UNSURE = frozenset({"idea", "problem", "problems", "worries", "clue", "maybe", "perhaps", "know"})
_NEGATIONS = frozenset({
    "not", "no", "never", "nothing", "neither", "nor", "dont", "don", "isnt", "isn", "wasnt",
    "wasn", "didnt", "didn", "doesnt", "doesn", "arent", "aren", "werent", "weren",
})  # fmt: skip

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_STARS = frozenset("⭐🌟★*")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# Removed before matching words: emoji presentation selectors, the keycap mark (2️⃣ -> 2),
# zero-width characters and skin tones (👍🏽 -> 👍).
_INVISIBLE = dict.fromkeys([0xFE0E, 0xFE0F, 0x20E3, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, *range(0x1F3FB, 0x1F400)])
_TRAILING = " .!?,;:…~"
_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-"})  # en dash, em dash, minus sign


# ---- cleaning -------------------------------------------------------------------------------


def _clean(text: Any) -> str:
    """The text as it may be saved: no control characters (bar newline and tab), no lone
    surrogates (neither survives a trip to PostgreSQL), no surrounding blanks."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
    return kept.strip().strip("\u200b\u200c\u200d\u2060\ufeff").strip()


def _words(text: str) -> str:
    """The text for matching words: compatibility-folded, casefolded, single-spaced, without
    invisible marks or trailing punctuation."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    return " ".join(folded.translate(_DASHES).split()).rstrip(_TRAILING)


def _ascii_digits(text: str) -> str:
    """Any decimal digit (Arabic-Indic, Devanagari...) as its ASCII digit."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _ok(value: Any, display: str) -> Parsed:
    return Parsed(ok=True, value=value, display=display)


def _err(error: str) -> Parsed:
    return Parsed(ok=False, error=error)


def _is_skip(text: str) -> bool:
    return _words(text) in SKIP_WORDS


# ---- options (buttons) ----------------------------------------------------------------------


def answer_options(step: AskStep) -> list[tuple[str, Any]]:
    """(button label, saved value) for the kinds answered with a button; [] for the others."""
    match step.expect:
        case "choice":
            return [(choice.label, choice.saved) for choice in step.choices]
        case "yes_no":
            return [("Yes", True), ("No", False)]
        case "rating":
            return [(str(n), n) for n in range(1, 6)]
        case "nps":
            return [(str(n), n) for n in range(0, 11)]
        case _:
            return []


def parse_choice_index(step: AskStep, index: int) -> Parsed:
    """A pressed button: `index` into `answer_options(step)` (0-based)."""
    options = answer_options(step)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(options):
        return _err("out_of_range")
    label, value = options[index]
    return _ok(value, label)


# ---- typed answers --------------------------------------------------------------------------


def parse_text_answer(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    """A typed message, read as the answer `step.expect` asks for."""
    clean = _clean(text)
    if step.optional and _is_skip(clean):
        # An option really called "Next" or "Pass", or "no thanks" to a yes/no question,
        # is an answer rather than a skip.
        if step.expect == "choice":
            exact = _choice_exact(step, clean)
            if exact is not None:
                return exact
        elif step.expect == "yes_no":
            said = _yes_no_words(_words(clean))
            if said is not None:
                return _yes_no(said)
        return SKIPPED
    return _PARSERS[step.expect](step, clean, ctx)


ATTACHABLE_MEDIA = frozenset({"photo", "document", "video"})


def parse_media_answer(step: AskStep, kind: str, ref: str) -> Parsed:
    """A photo, document or video sent as the answer; `ref` is the stored file's reference.

    Stickers, voice notes and locations show nothing staff can use as evidence: refused.
    """
    if step.expect != "media":
        return _err("text_expected")
    if kind not in ATTACHABLE_MEDIA or not ref:
        return _err("media_expected")
    return _ok({"kind": kind, "ref": ref}, f"({kind})")


def _parse_text(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    # Saved literally: "{{ 7*7 }}" stays "{{ 7*7 }}"; nothing here evaluates it.
    return _ok(text, text) if text else _err("empty")


def _parse_media(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return _err("media_expected")


# ---- choice ---------------------------------------------------------------------------------


def _choice_exact(step: AskStep, text: str) -> Parsed | None:
    """The option whose label or saved value is the text, ignoring case (then punctuation too)."""
    words = _words(text)
    if not words:
        return None
    for choice in step.choices:
        if words in (_words(choice.label), _words(choice.saved)):
            return _ok(choice.saved, choice.label)
    processed = utils.default_process(words)
    if processed:
        for choice in step.choices:
            if processed in (
                utils.default_process(choice.label), utils.default_process(choice.saved)
            ):  # fmt: skip
                return _ok(choice.saved, choice.label)
    return None


def _parse_choice(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return _err("empty")
    # Exact labels come before option numbers, so options "0", "1", "2" mean what they say.
    exact = _choice_exact(step, text)
    if exact is not None:
        return exact
    number = re.fullmatch(r"#?\s*(\d{1,3})", _ascii_digits(_words(text)))
    if number:
        position = int(number[1])
        if not 1 <= position <= len(step.choices):
            return _err("out_of_range")
        choice = step.choices[position - 1]
        return _ok(choice.saved, choice.label)
    raw_query = utils.default_process(_words(text)[: _SHORT * 4])
    query = fold(raw_query)  # filler words dropped: "my" must not tie "cancel my plan" to "For my work"
    if len(query) < _FUZZY_MIN_LENGTH:
        return _err("no_match")
    labels = [choice.label for choice in step.choices]
    found = process.extract(
        query,
        labels,
        scorer=fuzz.WRatio,
        processor=fold,
        score_cutoff=ctx.choice_threshold,
        limit=2,
    )
    if not found:
        return _err("no_match")
    if len(found) == 2 and found[0][1] == found[1][1]:
        return _err("ambiguous")
    _label, _score, index = found[0]
    # WRatio forgives extra words, so "not good" would be "Good": refuse a negation the
    # label does not have.
    label_words = set(utils.default_process(labels[index]).split())
    if set(raw_query.split()) & _NEGATIONS and not label_words & _NEGATIONS:
        return _err("no_match")
    choice = step.choices[index]
    return _ok(choice.saved, choice.label)


# ---- yes / no -------------------------------------------------------------------------------


def _squeeze(word: str) -> str:
    """Repeated letters once: "yesss" -> "yes", "noooo" -> "no", "correct" -> "corect"."""
    return re.sub(r"(.)\1+", r"\1", word)


_YES_SQUEEZED = frozenset(_squeeze(w) for w in _YES)
_NO_SQUEEZED = frozenset(_squeeze(w) for w in _NO)


def _yes_no_words(words: str) -> bool | None:
    """True / False for a yes or no in so many words ("Yes!", "nooo", "yes please"), else None."""
    if not words:
        return None
    squeezed = _squeeze(words)
    if words in _YES or squeezed in _YES_SQUEEZED:
        return True
    if words in _NO or squeezed in _NO_SQUEEZED:
        return False
    # "yes please", "no thanks", "nope, not today": the first word answers, unless the rest
    # says otherwise ("yes no", "yes I don't", "no idea", "no problem").
    tokens = [_squeeze(t) for t in re.split(r"[\s,.!?;:'’]+", words) if t]
    if len(tokens) < 2:
        return None
    first, rest = tokens[0], set(tokens[1:])
    if rest & _UNSURE:
        return None
    if first in _YES_SQUEEZED and not rest & (_NO_SQUEEZED | _NEGATIONS):
        return True
    if first in _NO_SQUEEZED and not rest & _YES_SQUEEZED:
        return False
    return None


def _yes_no_fuzzy(words: str) -> bool | None:
    """A typo of one of the words ("yse", "nop", "ofcourse"): one edit for short words, two for
    words of seven letters or more; a typo as close to a yes as to a no is refused."""
    squeezed = _squeeze(words)
    if len(squeezed) < 3 or len(squeezed) > 20:
        return None
    best: dict[bool, int] = {}
    for said, vocabulary in ((True, _YES_SQUEEZED), (False, _NO_SQUEEZED)):
        for word in vocabulary:
            if len(word) < 3:
                continue
            allowed = 2 if len(word) >= 7 else 1
            distance = OSA.distance(squeezed, word, score_cutoff=allowed)
            if distance <= allowed:
                best[said] = min(best.get(said, distance), distance)
    if len(best) == 1:
        return next(iter(best))
    if len(best) == 2 and best[True] != best[False]:
        return best[True] < best[False]
    return None


def _yes_no(said: bool) -> Parsed:
    return _ok(said, "Yes" if said else "No")


def _parse_yes_no(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return _err("empty")
    words = _words(text)
    said = _yes_no_words(words)
    if said is None:
        said = _yes_no_fuzzy(words)
    return _err("not_yes_no") if said is None else _yes_no(said)


# ---- scores (rating 1-5, nps 0-10) ----------------------------------------------------------

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
        return _err("empty")
    words = _ascii_digits(_words(text))
    if len(words) > _SHORT:
        return _err("not_a_number")
    compact = words.replace(" ", "")
    if compact and all(ch in _STARS for ch in compact):  # ⭐⭐⭐⭐
        count = len(compact)
        return _ok(count, str(count)) if low <= count <= high else _err("out_of_range")
    match = _SCORE.fullmatch(words)
    if match is None:
        return _err("not_an_integer" if _DECIMAL_SCORE.fullmatch(words) else "not_a_number")
    number = _score_number(match["n"])
    if number is None:
        return _err("not_a_number")
    if match["of"] is not None and _score_number(match["of"]) != high:  # "8/10" for a 1-5 rating
        return _err("out_of_range")
    if match["sign"] == "-":
        number = -number
    if not low <= number <= high:
        return _err("out_of_range")
    return _ok(number, str(number))


def _parse_rating(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return _parse_score(text, 1, 5)


def _parse_nps(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return _parse_score(text, 0, 10)


# ---- numbers --------------------------------------------------------------------------------

_GROUP_BLANKS = " '\u00a0\u202f\u2009"  # 1 000, 1'000 (Swiss), no-break and thin spaces
_NUMBER_BODY = re.compile(r"[0-9][0-9.,' \u00a0\u202f\u2009]*|[.,][0-9]+")


def _grouped(integer: str, separator: str) -> str | None:
    """'1,234,567' -> '1234567' if the groups are of three digits (the first of one to three)."""
    groups = integer.split(separator)
    if not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]):
        return None
    return "".join(groups)


def _read_number(text: str) -> Decimal | None:
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
    text = _ascii_digits(unicodedata.normalize("NFKC", text)).translate(_DASHES)
    text = text.replace("\u066b", ".").replace("\u066c", ",").strip()  # Arabic decimal, group
    if not text or len(text) > _SHORT:
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


def _parse_number(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return _err("empty")
    number = _read_number(text)
    if number is None:
        return _err("not_a_number")
    if step.min is not None and number < Decimal(str(step.min)):
        return _err("out_of_range")
    if step.max is not None and number > Decimal(str(step.max)):
        return _err("out_of_range")
    value: int | float = int(number) if number == number.to_integral_value() else float(number)
    return _ok(value, str(value))


# ---- email, phone ---------------------------------------------------------------------------


def _parse_email(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return _err("empty")
    if len(text) > 320:
        return _err("invalid_email")
    try:
        email = validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, ValueError):
        return _err("invalid_email")
    return _ok(email, email)


def _parse_phone(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return _err("empty")
    if len(text) > _SHORT:
        return _err("invalid_phone")
    region = (ctx.default_region or "").upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except (phonenumbers.NumberParseException, ValueError, TypeError):
        return _err("invalid_phone")
    if not phonenumbers.is_valid_number(number):
        return _err("invalid_phone")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return _ok(e164, shown)


# ---- dates ----------------------------------------------------------------------------------

_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_YEAR_FIRST = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")


def _show_date(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _read_date(text: str, ctx: AnswerContext) -> date | None:
    today = ctx.today or datetime.now(UTC).date()
    words = _ascii_digits(_words(text))
    if words in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[words])
    # Year first is year-month-day whatever dayfirst says: 2026-03-04 is 4 March.
    iso = _YEAR_FIRST.fullmatch(words)
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
            found = date_parser.parse(words, dayfirst=ctx.dayfirst, fuzzy=False, default=default)
        except (date_parser.ParserError, ValueError, OverflowError, TypeError):
            return None
        read.append(found.date())
    if read[0] != read[1]:
        return None
    return read[0]


def _parse_date(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return _err("empty")
    if len(text) > _SHORT:
        return _err("invalid_date")
    day = _read_date(text, ctx)
    if day is None:
        return _err("invalid_date")
    return _ok(day.isoformat(), _show_date(day))


_PARSERS: dict[str, Callable[[AskStep, str, AnswerContext], Parsed]] = {
    "text": _parse_text,
    "choice": _parse_choice,
    "yes_no": _parse_yes_no,
    "rating": _parse_rating,
    "nps": _parse_nps,
    "number": _parse_number,
    "email": _parse_email,
    "phone": _parse_phone,
    "date": _parse_date,
    "media": _parse_media,
}
