"""Tickets (each complaint or hand-off), their timeline, and the staff who follow them up."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow


class TicketStatus(StrEnum):
    """Where a ticket is in its life; stored as these strings."""

    OPEN = "open"  # nobody assigned yet
    ASSIGNED = "assigned"
    CLAIMED = "claimed"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # waiting for the customer's answer: closed, or reopened
    CLOSED = "closed"
    REOPENED = "reopened"


UNRESOLVED_STATUSES = (
    TicketStatus.OPEN, TicketStatus.ASSIGNED, TicketStatus.CLAIMED, TicketStatus.WAITING_ON_CUSTOMER,
    TicketStatus.IN_PROGRESS, TicketStatus.REOPENED,
)  # fmt: skip
FINISHED_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


class TicketEventKind(StrEnum):
    """The entries of a ticket's timeline; stored as these strings."""

    OPENED = "opened"
    ASSIGNED = "assigned"
    CLAIMED = "claimed"
    REASSIGNED = "reassigned"
    CUSTOMER_MESSAGE = "customer_message"  # the customer wrote on the open ticket (or a complaint joined it)
    HUMAN_REQUESTED = "human_requested"  # asked for a person while the ticket was open
    ATTACHMENT = "attachment"
    SEVERITY_RAISED = "severity_raised"  # a more urgent complaint joined it
    MOVED = "moved"  # a joined complaint left it for a ticket of its own
    STAFF_REPLY = "staff_reply"
    NOTE = "note"
    HELD_REPLY = "held_reply"  # a thread reply kept back until its author says reply or note
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    SLA_REMINDER = "sla_reminder"
    SLA_BREACH = "sla_breach"
    FOLDED = "folded"  # its staff notice went into a digest (a flood)


class Staff(Base):
    __tablename__ = "staff"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    slack_user_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(default=True)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_customer_status", "customer_id", "status"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), default="complaint")  # complaint | handoff
    # A TicketStatus; read back as the plain string (the column is text, the values are the same).
    status: Mapped[str] = mapped_column(String(32), default=TicketStatus.OPEN, index=True)
    category: Mapped[str] = mapped_column(String(64), default="general")
    severity: Mapped[str] = mapped_column(String(16), default="normal")
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    channel: Mapped[str | None] = mapped_column(String(32))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    first_response_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    compensation: Mapped[str | None] = mapped_column(Text)
    csat_score: Mapped[int | None]
    reopened_count: Mapped[int] = mapped_column(default=0)
    sla_breached: Mapped[bool] = mapped_column(default=False)
    # Where the staff conversation about this ticket lives (a Slack channel and thread).
    desk_channel: Mapped[str | None] = mapped_column(String(64))
    desk_thread: Mapped[str | None] = mapped_column(String(64))
    # The known problem (bot/incidents) the complaint is about: its id and "#3 title" for staff.
    # No foreign key: incidents are never deleted, and adding one would rebuild the table on SQLite (0014).
    incident_id: Mapped[int | None]
    incident_label: Mapped[str | None] = mapped_column(String(250))


class TicketEvent(Base):
    """One entry of a ticket's timeline (opened, customer message, assigned, resolved, ...)."""

    __tablename__ = "ticket_events"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # a TicketEventKind
    actor: Mapped[str] = mapped_column(String(200), default="system")
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
