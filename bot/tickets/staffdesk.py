"""The port to where staff work on tickets (Slack; handlers/slack/desk.py implements it): the notices and digests the
tickets feature sends there, and their kinds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.tickets.views import Deadline, Person, TicketView


class StaffNoticeKind(StrEnum):
    """What a staff notice is about; stored in the outbox payload as these strings."""

    OPENED = "opened"
    CLAIMED = "claimed"
    REASSIGNED = "reassigned"
    CUSTOMER_MESSAGE = "customer_message"
    STAFF_REPLY = "staff_reply"
    NOTE = "note"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CSAT = "csat"
    SLA_REMINDER = "sla_reminder"
    SLA_BREACH = "sla_breach"
    SHOWN = "shown"  # someone asked to see it in the desk (it was only listed in a summary)
    MOVED = "moved"  # a complaint that had joined it left for a ticket of its own


@dataclass(frozen=True)
class SeverityChange:
    """A more urgent complaint joined the ticket: its severity from, to."""

    before: str
    after: str

    def as_data(self) -> dict[str, str]:
        return {"from": self.before, "to": self.after}


@dataclass(frozen=True)
class NoticeDetails:
    """What a notice says besides its ticket: each kind sets its own (csat and reopened: score, solved; SLA alarms:
    clock, due; shown: who asked, by Slack id; a joined complaint: the severity it raised)."""

    score: int | None = None
    solved: bool | None = None
    clock: str | None = None  # first_response | resolution
    due: str | None = None  # ISO time of that clock's deadline
    slack_user_id: str | None = None
    severity_raised: SeverityChange | None = None

    def as_data(self) -> dict[str, Any]:
        """As the outbox payload holds it (JSON): only what is set."""
        data = {key: value for key, value in asdict(self).items() if value is not None}
        if self.severity_raised is not None:
            data["severity_raised"] = self.severity_raised.as_data()
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> NoticeDetails:
        raised = data.get("severity_raised")
        score, solved = data.get("score"), data.get("solved")
        return cls(
            score=score if isinstance(score, int) and not isinstance(score, bool) else None,
            solved=solved if isinstance(solved, bool) else None,
            clock=_text(data.get("clock")), due=_text(data.get("due")), slack_user_id=_text(data.get("slack_user_id")),
            severity_raised=SeverityChange(str(raised.get("from")), str(raised.get("to")))
            if isinstance(raised, dict) else None,
        )  # fmt: skip


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class StaffNotice:
    """Something staff must hear about a ticket, with the ticket as it is now."""

    kind: StaffNoticeKind
    ticket: TicketView
    text: str = ""
    actor: str = ""
    details: NoticeDetails = NoticeDetails()
    # What the customer wrote while the ticket was only named in a summary (a flood): the notice that starts the
    # ticket's thread late shows these first, oldest first.
    earlier: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigestTicket:
    """One ticket a digest names: which notice of it was folded, and (SLA alarms) which clock is due when."""

    id: int
    ref: str
    summary: str
    severity: str
    status: str
    channel: str | None
    notice: StaffNoticeKind
    clock: str | None
    due: Deadline | None
    assignee: Person | None


@dataclass(frozen=True)
class DigestAssignee:
    """One assignee concerned by a digest: who (None when not in the directory any more) and their notices per kind."""

    person: Person | None
    counts: Mapping[str, int]


@dataclass(frozen=True)
class StaffDigest:
    """Notices folded into one summary because many came at once for one place (a flood of new tickets or of SLA
    alarms): posted once where they would have gone, and once to each assignee concerned.

    `tickets`: the notices listed, at most a hundred; `counts`: every folded notice per kind, listed or not;
    `assignees`: per staff key, their person and counts; `sources`: new tickets per customer channel (web, telegram)."""

    key: str  # the digest's identity: a retry makes only the calls still missing
    place: str  # the escalation channel, or the Slack id of the person whose DM holds the tickets
    since: datetime
    until: datetime
    counts: Mapping[str, int]
    tickets: tuple[DigestTicket, ...]
    assignees: Mapping[str, DigestAssignee]
    sources: Mapping[str, int]
    max_posts: int  # the threshold that folded them, for the explanation
    window_seconds: float


@dataclass(frozen=True)
class DeskThread:
    """Where a ticket's conversation lives in the desk: a channel and the thread of its escalation message."""

    channel: str
    thread: str


class StaffDesk(Protocol):
    """Where staff work on tickets (Slack). Raises DeliveryError (bot/ports.py) when it cannot be reached.

    `notify` returns where the ticket's conversation lives when it started it: for "opened", or for a later notice
    about a ticket that had no thread yet (its opening was folded into a digest)."""

    async def notify(self, notice: StaffNotice) -> DeskThread | None: ...

    async def digest(self, digest: StaffDigest) -> None: ...
