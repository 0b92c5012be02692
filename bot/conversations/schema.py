"""The flow language, version 1: one pydantic model per step kind, told apart by their key."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

STEP_ID = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
FLOW_ID = r"^[a-z][a-z0-9_\-]*$"
ANSWER_TYPES = ("text", "choice", "yes_no", "rating", "nps", "number", "email", "phone", "date", "media")
ACTIONS = (
    "open_ticket", "handoff", "tag", "untag", "set_attribute", "record_survey",
    "subscribe", "unsubscribe", "start_flow", "ticket_feedback", "give_reward",
)  # fmt: skip

_DURATION = re.compile(r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(text: str) -> timedelta:
    """'3d', '1d12h', '90m', '2w' -> timedelta. Raises ValueError with a hint."""
    match = _DURATION.match(str(text))
    if not match or not any(match.groups()):
        raise ValueError(f"bad duration {text!r}: use a number with w, d, h, m or s, e.g. 3d, 12h, 1d6h, 30m")
    w, d, h, m, s = (int(g) if g else 0 for g in match.groups())
    value = timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
    if value <= timedelta(0):
        raise ValueError(f"bad duration {text!r}: it must be longer than zero")
    return value


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---- triggers -------------------------------------------------------------------------------


class CommandTrigger(Node):
    command: str

    @field_validator("command")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not re.fullmatch(r"/[a-z0-9_]{1,32}", value):
            raise ValueError(f"command {value!r} must look like /start (lower case letters, digits, _)")
        return value


class IntentTrigger(Node):
    intent: list[str] = Field(min_length=1)

    @field_validator("intent", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MenuTrigger(Node):
    menu: str = Field(min_length=1, max_length=60)


class EventTrigger(Node):
    event: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


def _key_of(value: Any, keys: tuple[str, ...]) -> str | None:
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                return key
    elif isinstance(value, BaseModel):
        for key in keys:
            if key in type(value).model_fields:
                return key
    return None


TRIGGER_KEYS = ("command", "intent", "menu", "event")
Trigger = Annotated[
    Annotated[CommandTrigger, Tag("command")]
    | Annotated[IntentTrigger, Tag("intent")]
    | Annotated[MenuTrigger, Tag("menu")]
    | Annotated[EventTrigger, Tag("event")],
    Discriminator(
        lambda v: _key_of(v, TRIGGER_KEYS),
        custom_error_type="trigger_kind",
        custom_error_message="a trigger needs one of: command, intent, menu, event",
    ),
]


# ---- steps ----------------------------------------------------------------------------------


class StepBase(Node):
    id: str | None = Field(None, pattern=STEP_ID)


class ButtonSpec(Node):
    label: str = Field(min_length=1, max_length=60)
    # A button under a `say` starts another flow, or does what a global word does.
    # A flow id as Flow.flow allows, so its payload (bot/conversations/buttons.py) always fits a Telegram button.
    flow: str | None = Field(None, pattern=FLOW_ID, max_length=60)
    action: Literal["menu", "human"] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ButtonSpec:
        if (self.flow is None) == (self.action is None):
            raise ValueError("a button needs exactly one of: flow, action")
        return self


class SayStep(StepBase):
    say: str
    buttons: list[ButtonSpec] = []
    media: str | None = None
    next: str | None = None


class ChoiceSpec(Node):
    label: str = Field(min_length=1, max_length=60)
    value: str | None = None

    @property
    def saved(self) -> str:
        return self.value if self.value is not None else self.label


class AskStep(StepBase):
    ask: str
    expect: Literal["text", "choice", "yes_no", "rating", "nps", "number", "email", "phone", "date", "media"] = "text"
    choices: list[ChoiceSpec] = []
    # Where the answer is kept (answers.<save>); defaults to the step id.
    save: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    retries: int | None = Field(None, ge=0, le=10)
    invalid: str | None = None
    min: float | None = None
    max: float | None = None
    # The customer may skip the question (a Skip button; the answer is saved as none).
    optional: bool = False
    next: str | None = None
    # An unanswered proactive question (outreach.checkins gives the defaults): remind, then go on without it.
    remind_after: str | None = None
    reminders: int | None = Field(None, ge=0, le=10)
    give_up_after: str | None = None
    # Where to continue when the question was given up (default: where an answer would have led).
    on_timeout: str | None = None

    @field_validator("remind_after", "give_up_after")
    @classmethod
    def _duration(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        parse_duration(value)
        remind_after = info.data.get("remind_after") if info.field_name == "give_up_after" else None
        if remind_after and parse_duration(remind_after) >= parse_duration(value):
            raise ValueError(
                f"remind_after ({remind_after}) must be shorter than give_up_after ({value}):"
                " a reminder is never sent after giving up"
            )
        return value

    @field_validator("choices", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"label": v} if isinstance(v, str | int | float) else v for v in value]
        return value

    @model_validator(mode="after")
    def _choices_only_for_choice(self) -> AskStep:
        if self.expect == "choice" and len(self.choices) < 2:
            raise ValueError('expect: choice needs a "choices" list with at least two options')
        if self.expect != "choice" and self.choices:
            raise ValueError(f'"choices" only goes with expect: choice (this asks for {self.expect})')
        if (self.min is not None or self.max is not None) and self.expect != "number":
            raise ValueError('"min" and "max" only go with expect: number')
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    @property
    def remind_delay(self) -> timedelta | None:
        return parse_duration(self.remind_after) if self.remind_after else None

    @property
    def give_up_delay(self) -> timedelta | None:
        return parse_duration(self.give_up_after) if self.give_up_after else None


class BranchCase(Node):
    when: str
    goto: str


class BranchStep(StepBase):
    branch: list[BranchCase] = Field(min_length=1)
    otherwise: str | None = Field(None, alias="else")


class GotoStep(StepBase):
    goto: str


class SetStep(StepBase):
    set: dict[str, Any] = Field(min_length=1)
    next: str | None = None


class ActionStep(StepBase):
    action: Literal[
        "open_ticket", "handoff", "tag", "untag", "set_attribute", "record_survey",
        "subscribe", "unsubscribe", "start_flow", "ticket_feedback", "give_reward",
    ]  # fmt: skip
    # open_ticket / handoff
    category: str | None = None
    severity: Literal["low", "normal", "high", "critical"] | None = None
    summary: str | None = None
    description: str | None = None
    attachment: str | None = None
    # Always a ticket of its own, never added to the customer's open one (the customer said it is a different
    # problem); up to tickets.max_open_per_customer (bot/tickets/intake.py).
    separate: bool = False
    # tag / untag
    tag: str | None = None
    # set_attribute
    name: str | None = None
    value: Any = None
    # record_survey
    survey: str | None = None
    kind: Literal["nps", "csat", "text"] | None = None
    score: str | None = None
    comment: str | None = None
    # start_flow
    flow: str | None = None
    # ticket_feedback (after a resolution): was it solved (a template giving yes/no), and `score`
    solved: str | None = None
    # give_reward: a code of this pool (rewards.pools), once per customer; `quiet`: the flow says it itself
    # (`reward.code`, `reward.given`) instead of the standard text
    pool: str | None = Field(None, pattern=r"^[a-z][a-z0-9_\-]*$", max_length=60)
    quiet: bool = False
    next: str | None = None

    @model_validator(mode="after")
    def _required_params(self) -> ActionStep:
        needs = {
            "tag": ["tag"], "untag": ["tag"], "set_attribute": ["name"],
            "record_survey": ["survey", "kind"], "start_flow": ["flow"], "give_reward": ["pool"],
        }.get(self.action, [])  # fmt: skip
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"action {self.action} needs: {', '.join(missing)}")
        return self


class WaitStep(StepBase):
    wait: str
    next: str | None = None

    @field_validator("wait")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def duration(self) -> timedelta:
        return parse_duration(self.wait)


class EndStep(StepBase):
    # `end: true`, or `end: "closing text"`.
    end: bool | str = True


STEP_KEYS = ("say", "ask", "branch", "goto", "set", "action", "wait", "end")
Step = Annotated[
    Annotated[SayStep, Tag("say")]
    | Annotated[AskStep, Tag("ask")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[GotoStep, Tag("goto")]
    | Annotated[SetStep, Tag("set")]
    | Annotated[ActionStep, Tag("action")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[EndStep, Tag("end")],
    Discriminator(
        lambda v: _key_of(v, STEP_KEYS),
        custom_error_type="step_kind",
        custom_error_message="a step needs one of: say, ask, branch, goto, set, action, wait, end",
    ),
]
AnyStep = SayStep | AskStep | BranchStep | GotoStep | SetStep | ActionStep | WaitStep | EndStep


class Flow(Node):
    version: Literal[1] = 1
    flow: str = Field(pattern=FLOW_ID, max_length=60)
    title: str = ""
    description: str = ""
    # May this flow's triggers interrupt another flow in progress (complaints, hand-offs)?
    interrupts: bool = False
    triggers: list[Trigger] = []
    steps: list[Step] = Field(min_length=1)
