"""What a customer typed, made fit to save (`clean`) and to compare with words we know (`words`)."""

from __future__ import annotations

import unicodedata
from typing import Any

# Longest input worth reading for the structured kinds (a phone number, a date, a score...).
SHORT = 64

# Words that turn an answer around ("not good", "yes I don't"): shared by choices and yes/no.
NEGATIONS = frozenset({
    "not", "no", "never", "nothing", "neither", "nor", "dont", "don", "isnt", "isn", "wasnt",
    "wasn", "didnt", "didn", "doesnt", "doesn", "arent", "aren", "werent", "weren",
})  # fmt: skip

# Removed before matching words: emoji presentation selectors, the keycap mark (2️⃣ -> 2),
# zero-width characters and skin tones (👍🏽 -> 👍).
_INVISIBLE = dict.fromkeys([0xFE0E, 0xFE0F, 0x20E3, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, *range(0x1F3FB, 0x1F400)])
_TRAILING = " .!?,;:…~"
DASHES = str.maketrans({"–": "-", "—": "-", "−": "-"})  # en dash, em dash, minus sign


def clean(text: Any) -> str:
    """The text as it may be saved: no control characters (bar newline and tab), no lone
    surrogates (neither survives a trip to PostgreSQL), no surrounding blanks."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
    return kept.strip().strip("\u200b\u200c\u200d\u2060\ufeff").strip()


def words(text: str) -> str:
    """The text for matching words: compatibility-folded, casefolded, single-spaced, without
    invisible marks or trailing punctuation."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    return " ".join(folded.translate(DASHES).split()).rstrip(_TRAILING)


def ascii_digits(text: str) -> str:
    """Any decimal digit (Arabic-Indic, Devanagari...) as its ASCII digit."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)
