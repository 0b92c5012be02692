"""Names typed on the command line (staff keys, ticket categories, severities, statuses, flows): an unknown one is
refused with the closest known name and the list of known ones, the same way for every kind of name."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import fuzz, process, utils

from bot.config import Settings
from bot.conversations import schema
from bot.conversations.loader import LoadedFlow
from handlers.cli_support import NOT_FOUND, fail

SIMILAR = 70  # rapidfuzz WRatio at or above which a known name is offered as "did you mean"
ANSWER = re.compile(r"^\{\{\s*answers\.(\w+)\s*\}\}$")
TEMPLATE = re.compile(r"\{\{|\{%")
# The names a template can give: its quoted words ("{{ 'retention' if ... else 'cancellation' }}").
QUOTED_NAME = re.compile(r"""['"]([a-z0-9][a-z0-9_-]*)['"]""")


def closest(name: str, known: Iterable[str]) -> str | None:
    found = process.extractOne(name, list(known), scorer=fuzz.WRatio, processor=utils.default_process,
                               score_cutoff=SIMILAR)  # fmt: skip
    return found[0] if found else None


def unknown(kind: str, name: str, known: Iterable[str]) -> str:
    """'unknown category 'delivry' (did you mean "delivery"?); known: ...'"""
    known = sorted(set(known))
    close = closest(name, known)
    hint = f' (did you mean "{close}"?)' if close else ""
    return f"unknown {kind} {name!r}{hint}; known: {', '.join(known) or 'none'}"


def known_or_fail(kind: str, name: str, known: Iterable[str]) -> None:
    known = list(known)
    if name not in known:
        fail(unknown(kind, name, known), NOT_FOUND)


def ticket_categories(settings: Settings, flows: Iterable[LoadedFlow]) -> set[str]:
    """Every category a ticket can have: what staff and routing rules name, what flows open tickets with (written
    out, or the choices of the question whose answer they use), and hand-offs to a person."""
    found = {"handoff"}
    for person in settings.staff:
        found.update(person.categories or ())
    for rule in settings.routing.rules:
        found.update(rule.match.category)
    for loaded in flows:
        asks = {step.save or step.id: step for step in loaded.flow.steps if isinstance(step, schema.AskStep)}
        for step in loaded.flow.steps:
            if not isinstance(step, schema.ActionStep) or not step.category:
                continue
            answer = ANSWER.match(step.category)
            if answer is not None:
                if answer.group(1) in asks:
                    found.update(choice.saved for choice in asks[answer.group(1)].choices)
            elif TEMPLATE.search(step.category):
                found.update(QUOTED_NAME.findall(step.category))
            else:
                found.add(step.category)
    return found
