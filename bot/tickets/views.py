"""What the tickets feature shows of a ticket outside itself, as named frozen types: the staff view (the desk, the
CLI), a digest's line, and the view flow texts read (`{{ ticket.ref }}`: Jinja reads attributes as it read keys)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.tickets.models import TicketStatus


@dataclass(frozen=True)
class Person:
    """A staff member as notices show them: config.yaml first, else the stored row."""

    key: str
    name: str
    slack_user_id: str | None = None


@dataclass(frozen=True)
class Deadline:
    """An SLA due time: `iso` for machines, `text` in business.timezone for people."""

    iso: str
    text: str


@dataclass(frozen=True)
class Attachment:
    """A file the customer sent with the complaint (the platform's file id)."""

    kind: str
    ref: str

    @classmethod
    def from_data(cls, media: Mapping[str, Any]) -> Attachment:
        return cls(kind=str(media.get("kind", "file")), ref=str(media.get("ref", "?")))


@dataclass(frozen=True)
class TicketCustomer:
    id: int
    name: str  # their display name, else "Customer #<id>"
    tier: str
    language: str | None
    channels: tuple[str, ...]  # where they can be reached (web, telegram), sorted


@dataclass(frozen=True)
class TicketView:
    """Everything a staff-facing message shows about a ticket, as it is now."""

    id: int
    ref: str
    kind: str  # complaint | handoff
    status: TicketStatus
    category: str
    severity: str
    summary: str
    description: str
    channel: str | None  # where the customer complained (web, telegram)
    attachments: tuple[Attachment, ...]
    customer: TicketCustomer
    assignee: Person | None
    backup: Person | None  # the assignee's backup, told when an SLA is breached or the ticket reopens
    first_response_due: Deadline | None
    resolution_due: Deadline | None
    first_responded: bool
    sla_breached: bool
    resolution: str
    compensation: str
    csat_score: int | None
    reopened_count: int
    desk_channel: str | None  # its escalation channel (the ticket's own, else slack.channels)
    desk_thread: str | None  # its thread there, once posted
    recent_messages: tuple[str, ...]  # the customer's latest messages, oldest first
    incident: str | None = None  # the known problem the complaint is about ("#3 Late deliveries"), if any

    def due(self, clock: str) -> Deadline | None:
        """The deadline of an SLA clock by name (`first_response`, `resolution`); None for another name."""
        return {"first_response": self.first_response_due, "resolution": self.resolution_due}.get(clock)

    @property
    def place(self) -> str | None:
        """Where its notices go: its escalation channel, else its assignee's DM; None when nowhere."""
        return self.desk_channel or (self.assignee.slack_user_id if self.assignee else None) or None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # a TicketEventKind
    actor: str
    body: str


@dataclass(frozen=True)
class TicketDetails:
    """One ticket for `engagebot tickets show`: its view, its SLA as of now and its timeline."""

    view: TicketView
    sla: SlaState
    # Each deadline: None while still running, True when met, False when met late.
    first_response_met: bool | None
    resolution_met: bool | None
    timeline: tuple[TimelineEntry, ...]


@dataclass(frozen=True)
class SlaState:
    """The SLA clock that runs now: breached (overdue counts, before the watch has marked it), due at a moment, or
    none (the ticket is finished, or has no deadline)."""

    breached: bool = False
    due: datetime | None = None


@dataclass(frozen=True)
class TicketLine:
    """One ticket in a list (`engagebot tickets list`, `mine`)."""

    ref: str
    status: TicketStatus
    kind: str
    category: str
    severity: str
    assignee: str | None  # the person's name
    sla: SlaState
    opened_at: datetime
    summary: str


@dataclass(frozen=True)
class TicketTemplateView:
    """What flow texts see of a ticket (`ticket.ref`, `ticket.respond_within`, ...). A flow step that opened or joined
    it adds `joined`, `at_limit`, `open_tickets` and `limit` (bot/tickets/intake.py)."""

    ref: str | None
    kind: str
    status: str
    category: str
    severity: str
    respond_within: str  # e.g. "8 hours"
    due: str  # e.g. "Monday 14 March, 16:00" in business.timezone, or ""
    assignee: str  # the person's name, or "our team"
    summary: str
    resolution: str
    compensation: str
    joined: bool | None = None
    at_limit: bool | None = None
    open_tickets: int | None = None
    limit: int | None = None

    def as_context(self) -> dict[str, Any]:
        """As a conversation's stored context holds it (JSON): the fields a flow step did not set are left out."""
        return {key: value for key, value in asdict(self).items() if key not in _INTAKE_FACTS or value is not None}


_INTAKE_FACTS = frozenset({"joined", "at_limit", "open_tickets", "limit"})
