"""Button payloads: the one place where what a button carries is written and read back.

A button's value goes to the customer's app and comes back as `Inbound.choice`, so what comes back may be
forged or garbled. Each kind is a frozen dataclass that checks its own fields, so the writer cannot make a
payload the reader would refuse (or one longer than Telegram's 64-byte callback data), and `parse` accepts
exactly what the writer makes: anything else raises `InvalidButton` with a reason, never another exception.

    a:<run id>:<step index>:<option index>   an answer button under a question; `skip` for the Skip button
    f:<flow id>                               starts a flow
    g:<word>                                  does what a global word does

Whether a well-formed payload may be acted on (the customer's own run, a question that was asked, a flow
they may start) is the engine's check: only the database knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from bot.conversations.schema import FLOW_ID

MAX_INT = 2**31 - 1  # ids and indexes are INTEGER columns on PostgreSQL: a larger one would overflow the query
MAX_FLOW_ID = 60  # as Flow.flow allows
CALLBACK_LIMIT = 64  # bytes of Telegram's callback_data; the longest payload written here is 62 (a flow button)
SKIP = "skip"

GlobalWord = Literal["menu", "human", "retry"]
GLOBAL_WORDS: tuple[str, ...] = get_args(GlobalWord)

# ASCII digits in their shortest form only: str.isdigit() also takes "²" or "٣", and the writer never pads.
_NUMBER = r"0|[1-9][0-9]{0,9}"
_ANSWER = re.compile(rf"a:({_NUMBER}):({_NUMBER}):({_NUMBER}|{SKIP})")
_FLOW = re.compile(FLOW_ID)


class InvalidButton(ValueError):
    """A payload the writer could not have made; the message says why (for one log line)."""


@dataclass(frozen=True, slots=True)
class AnswerButton:
    """An answer to question `step_index` of run `run_id`: option `option` of its answers, or None for Skip."""

    run_id: int
    step_index: int
    option: int | None

    def __post_init__(self) -> None:
        _check_range("run id", self.run_id, 1)
        _check_range("step index", self.step_index, 0)
        if self.option is not None:
            _check_range("option", self.option, 0)

    @property
    def skip(self) -> bool:
        return self.option is None

    @property
    def value(self) -> str:
        return f"a:{self.run_id}:{self.step_index}:{SKIP if self.option is None else self.option}"


@dataclass(frozen=True, slots=True)
class FlowButton:
    """Starts flow `flow_id` (a menu entry, a button under a `say`, a campaign message's button)."""

    flow_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.flow_id, str) or len(self.flow_id) > MAX_FLOW_ID or not _FLOW.fullmatch(self.flow_id):
            raise InvalidButton(f"not a flow id: {self.flow_id!r:.80}")

    @property
    def value(self) -> str:
        return f"f:{self.flow_id}"


@dataclass(frozen=True, slots=True)
class WordButton:
    """Does what a global word does: the menu, a person, or the question again after the retries."""

    word: GlobalWord

    def __post_init__(self) -> None:
        if self.word not in GLOBAL_WORDS:
            raise InvalidButton(f"not a button word: {self.word!r:.80}")

    @property
    def value(self) -> str:
        return f"g:{self.word}"


ButtonPayload = AnswerButton | FlowButton | WordButton


def parse(value: str) -> ButtonPayload:
    """The button `value` names, if our writer could have made it; else InvalidButton."""
    kind, _, rest = value.partition(":")
    if kind == "a":
        match = _ANSWER.fullmatch(value)
        if match is None:
            raise InvalidButton("malformed answer button")
        run_id, step_index, option = match.groups()
        return AnswerButton(int(run_id), int(step_index), None if option == SKIP else int(option))
    if kind == "f":
        return FlowButton(rest)
    if kind == "g":
        return WordButton(rest)  # type: ignore[arg-type]  # checked by WordButton itself
    raise InvalidButton("unknown kind of button")


def _check_range(name: str, number: int, low: int) -> None:
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= MAX_INT:
        raise InvalidButton(f"{name} out of range")


__all__ = [
    "CALLBACK_LIMIT", "GLOBAL_WORDS", "MAX_INT", "AnswerButton", "ButtonPayload", "FlowButton", "GlobalWord",
    "InvalidButton", "WordButton", "parse",
]  # fmt: skip
