"""Is a staff reply in a ticket's thread an internal note? Failing closed: a reply that starts with a note marker
stays internal, and a reply that only might be one (the word "note" or "internal" near its start, or a colleague
addressed first) is held until its author says which, never sent on a guess.

The marker is recognised in the reply as the customer would read it (mentions as names, `&gt;` as `>`), after what
Slack formatting, quoting, bullets and brackets put in front of it, in any case: `note:`, `*note:*`, `_note:_`,
`> note:`, `notes:`, `Note -`, `[note]`, `(internal)`, `internal:`, `**Private note**:`, `staff only:`, or the
marker alone on the first line. Pure: table-tested in tests/handlers/slack/test_notes.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["reply", "note", "unsure"]

# What may come before a marker: spaces, quotes (`>`), formatting (* _ ~ `), bullets, brackets, comment slashes.
_LEAD = r"[\s>*_~`\"'“”‘’«»\[\](){}<|#/\\•·\-–—=+.,;:!]*"
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
    marker = _MARKER.match(text)
    if marker is not None:
        return Verdict("note", text[marker.end() :].strip())
    opening = " ".join(text.split()[:NEAR_START])
    if _SUSPECT.search(opening) or _ADDRESSED.match(text):
        return Verdict("unsure", text.strip())
    return Verdict("reply", text.strip())
