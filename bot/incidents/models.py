"""Incidents (known problems customers are told about first), the notices sent about each, and who was affected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

OPEN = "open"
RESOLVED = "resolved"


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (IDS_NEVER_REUSED,)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    what_happened: Mapped[str] = mapped_column(Text, default="")
    what_we_do: Mapped[str] = mapped_column(Text, default="")
    next_update_at: Mapped[datetime | None]
    severity: Mapped[str] = mapped_column(String(16), default="normal")  # low | normal | high | critical
    status: Mapped[str] = mapped_column(String(16), default=OPEN, index=True)  # open | resolved
    # Who is affected: tiers, tags, `when` and an event in a time window (bot.incidents.audience.AudienceSpec).
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_by: Mapped[str] = mapped_column(String(200), default="")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class IncidentNotice(Base):
    """One message about an incident (its opening, each update, its resolution), sent to the affected customers."""

    __tablename__ = "incident_notices"
    __table_args__ = (UniqueConstraint("incident_id", "seq"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    seq: Mapped[int]  # 0 for the opening, then 1, 2, ...
    kind: Mapped[str] = mapped_column(String(16))  # opened | update | resolved
    body: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentCustomer(Base):
    """A customer the incident affects (found when it opened, or by a later update): every notice goes to them."""

    __tablename__ = "incident_customers"
    __table_args__ = (
        UniqueConstraint("incident_id", "customer_id"),
        Index("ix_incident_customers_customer", "customer_id"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The last notice that reached them (its seq), and how many did; the last reason one did not.
    notified: Mapped[int] = mapped_column(default=0)
    last_notified_at: Mapped[datetime | None]
    skipped: Mapped[str | None] = mapped_column(String(200))
