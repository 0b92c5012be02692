"""Text folding for fuzzy matching: case and punctuation folded, filler words dropped.

Without dropping filler words, WRatio's partial matching lets one shared "I" or "my" score
85+ between unrelated sentences ("I love it" ~ "I want to cancel").
"""

from __future__ import annotations

from rapidfuzz import utils

FILLER_WORDS = frozenset(
    """a an the i me my mine we us our you your it its is am are was were be been do does did
    to of in on at for with and or but so just please can could would will should shall may
    might that this these those there here what how hi hello hey im ive id dont
    want wanna need like get got have has had s t m d ll re ve""".split()
)


def fold(text: str) -> str:
    """Lower case, punctuation folded, filler words dropped (kept if nothing else is left)."""
    processed = utils.default_process(text)
    words = [w for w in processed.split() if w not in FILLER_WORDS]
    return " ".join(words) if words else processed
