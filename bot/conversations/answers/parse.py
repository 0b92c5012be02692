"""Reading a message as the answer to an `ask` step: a skip word, a photo, or the parser of the kind it expects."""

from __future__ import annotations

from collections.abc import Callable

from bot.conversations.answers.choice import choice_exact, parse_choice
from bot.conversations.answers.cleaning import clean, words
from bot.conversations.answers.contact import parse_email, parse_phone
from bot.conversations.answers.date import parse_date
from bot.conversations.answers.number import parse_number
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.answers.score import parse_nps, parse_rating
from bot.conversations.answers.yes_no import parse_yes_no, yes_no, yes_no_words
from bot.conversations.schema import AskStep

# Said to an optional question, these skip it (the answer is saved as none).
SKIP_WORDS: frozenset[str] = frozenset({"skip", "pass", "-", "no thanks", "next"})
SKIPPED = Parsed(ok=True, value=None, display="Skipped")
ATTACHABLE_MEDIA = frozenset({"photo", "document", "video"})


def parse_text_answer(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    """A typed message, read as the answer `step.expect` asks for."""
    cleaned = clean(text)
    if step.optional and words(cleaned) in SKIP_WORDS:
        # An option really called "Next" or "Pass", or "no thanks" to a yes/no question,
        # is an answer rather than a skip.
        if step.expect == "choice":
            exact = choice_exact(step, cleaned)
            if exact is not None:
                return exact
        elif step.expect == "yes_no":
            said = yes_no_words(words(cleaned))
            if said is not None:
                return yes_no(said)
        return SKIPPED
    return _PARSERS[step.expect](step, cleaned, ctx)


def parse_media_answer(step: AskStep, kind: str, ref: str) -> Parsed:
    """A photo, document or video sent as the answer; `ref` is the stored file's reference.

    Stickers, voice notes and locations show nothing staff can use as evidence: refused.
    """
    if step.expect != "media":
        return refused("text_expected")
    if kind not in ATTACHABLE_MEDIA or not ref:
        return refused("media_expected")
    return accepted({"kind": kind, "ref": ref}, f"({kind})")


def _parse_text(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    # Saved literally: "{{ 7*7 }}" stays "{{ 7*7 }}"; nothing here evaluates it.
    return accepted(text, text) if text else refused("empty")


def _parse_media(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    return refused("media_expected")


_PARSERS: dict[str, Callable[[AskStep, str, AnswerContext], Parsed]] = {
    "text": _parse_text,
    "choice": parse_choice,
    "yes_no": parse_yes_no,
    "rating": parse_rating,
    "nps": parse_nps,
    "number": parse_number,
    "email": parse_email,
    "phone": parse_phone,
    "date": parse_date,
    "media": _parse_media,
}
