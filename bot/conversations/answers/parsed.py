"""What reading an answer gives: the typed value (or why it was refused), and the settings reading depends on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


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


def accepted(value: Any, display: str) -> Parsed:
    return Parsed(ok=True, value=value, display=display)


def refused(error: str) -> Parsed:
    return Parsed(ok=False, error=error)
