"""The retention tables: cancellations (with their reason and win-back state) and cross-sell offers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

# A cancellation's win-back sequence: running until a comeback, an opt-out, or its last step went out.
RUNNING = "running"
WON_BACK = "won_back"
OPTED_OUT = "opted_out"
FINISHED = "finished"


class Cancellation(Base):
    """A customer leaving: why (a structured reason and their own words), the save attempt, and the win-back."""

    __tablename__ = "cancellations"
    __table_args__ = (Index("ix_cancellations_customer_status", "customer_id", "status"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # What told us, once each: "event:<customer_events.id>" or "flow:<conversation_runs.id>".
    source: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)
    fixable: Mapped[bool] = mapped_column(default=False)
    # The save attempt (the retention ticket), when the reason is one staff can fix.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    # What stopped the sequence (an event's name, "opted out"), and when.
    stopped_by: Mapped[str | None] = mapped_column(String(64))
    stopped_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrosssellOffer(Base):
    """One cross-sell offer queued for one customer; its conversion is read from `purchased` events."""

    __tablename__ = "crosssell_offers"
    __table_args__ = (Index("ix_crosssell_offers_customer_product", "customer_id", "product"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(100))
    product: Mapped[str] = mapped_column(String(200))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the offer reached the customer; None while it waits (quiet hours, the cap) or when it was stopped.
    sent_at: Mapped[datetime | None]
    # Why it was not sent after all (a ticket opened meanwhile...).
    stopped: Mapped[str | None] = mapped_column(String(200))
