"""Is a staff reply in a ticket's thread an internal note? Failing closed: a reply that starts with a note marker
stays internal, and a reply that only might be one (the word "note" or "internal" near its start, or a colleague
addressed first) is held until its author says which, never sent on a guess.

The marker is recognised in the reply as the customer would read it (mentions as names, `&gt;` as `>`), after what
Slack formatting, quoting, bullets, brackets and emoji (`:memo:` or 📝) put in front of it, in any case: `note:`,
`*note:*`, `_note:_`, `> note:`, `notes:`, `Note -`, `[note]`, `(internal)`, `internal:`, `**Private note**:`,
`staff only:`, or the marker alone on the first line. It is looked for after NFKC normalisation (full-width `ｎｏｔｅ：`
is `note:`) with invisible format characters (zero-width spaces and joiners, bidi marks: Unicode category Cf) taken
out, so a marker that looks like one to a person is one. Pure: table-tested in tests/handlers/slack/test_notes.py.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["reply", "note", "unsure"]

# What may come before a marker: spaces, quotes (`>`), formatting (* _ ~ `), bullets, brackets, comment slashes, and
# emoji: pictographs, their variation selector and keycap (as typed or pasted), or Slack's `:memo:` shortcodes.
_EMOJI = (
    "\u00a9\u00ae\u203c\u2049\u20e3\u2190-\u21ff\u2300-\u23ff\u24c2\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\u3030\u303d\ufe0f\U0001f000-\U0001faff"
)
_LEAD = rf"(?:[\s>*_~`\"'“”‘’«»\[\](){{}}<|#/\\•·\-–—=+.,;:!{_EMOJI}]|:[a-z0-9_+\-]+:)*"
_WORD = (r"(?:internal|private|staff|team)[\s_\-]*(?:notes?|only)|notes?(?:[\s_\-]+to[\s_\-]+(?:self|team|staff))?"
         r"|internal(?:[\s_\-]+only)?|private|staff[\s_\-]+only|do[\s_\-]+not[\s_\-]+send")  # fmt: skip
# After the marker: formatting, then a separator (a colon, a dash, a closing bracket...) or the end of the line.
_AFTER = r"[*_~`\"'”’»]*\s*(?:[:\-–—=|/>\])}]+|(?=\n)|$)"
_MARKER = re.compile(rf"^{_LEAD}(?P<word>{_WORD}){_AFTER}[\s*_~`\])}}>]*", re.IGNORECASE)
# Words that make a reply look like it might be internal when they come early in it.
_SUSPECT = re.compile(
    r"\b(?:notes?|nb|internal(?:ly)?|private(?:ly)?|confidential|memo|do\s+not\s+send|don'?t\s+send"
    r"|not\s+for\s+(?:the\s+)?customer)\b|\bn\.b\.",
    re.IGNORECASE,
)
NEAR_START = 6  # words: "Hi Joana, please note ..." is near the start; a note in the tenth word is not
_ADDRESSED = re.compile(rf"^{_LEAD}@\S")  # starts with a mention: said to a colleague in Slack


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    text: str  # a note's text without its marker; otherwise the reply as written


def classify(text: str) -> Verdict:
    """A thread reply (as plain text) as a reply for the customer, an internal note, or unsure."""
    seen, ends = _as_seen(text)
    marker = _MARKER.match(seen)
    if marker is not None:
        # The note as written (not normalised), from the character that follows the marker.
        return Verdict("note", _drop_format(text[ends[marker.end() - 1] :]))
    opening = " ".join(seen.split()[:NEAR_START])
    if _SUSPECT.search(opening) or _ADDRESSED.match(seen):
        return Verdict("unsure", text.strip())
    return Verdict("reply", text.strip())


def _as_seen(text: str) -> tuple[str, list[int]]:
    """The text as a person reads it: NFKC per character, format characters (Cf) left out. With it, for each of its
    characters, where the character that produced it ends in `text`."""
    seen: list[str] = []
    ends: list[int] = []
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cf":
            continue
        normal = unicodedata.normalize("NFKC", char)
        seen.append(normal)
        ends.extend([index + 1] * len(normal))
    return "".join(seen), ends


def _drop_format(text: str) -> str:
    """Without the invisible characters at its edges (a zero-width space after the marker is not the note)."""
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]) == "Cf"):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]) == "Cf"):
        end -= 1
    return text[start:end]
