"""Customers and the channel identities through which they reach us."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    # The business's own id for this customer (CRM), for imports and the API.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(40), default="standard")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[str]] = mapped_column(default=list)
    # Consent to proactive (non-transactional) messages; opt-out is honoured at once.
    subscribed: Mapped[bool] = mapped_column(default=True)
    opted_out_at: Mapped[datetime | None]
    # Set when a channel reports the customer cannot be reached (e.g. blocked the bot).
    unreachable: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    # The last sign of life from any side: a chat message or a CRM event (win-back, tier rules).
    last_active_at: Mapped[datetime | None] = mapped_column(index=True)
    tier_updated_at: Mapped[datetime | None]

    identities: Mapped[list[ChannelIdentity]] = relationship(
        back_populates="customer", lazy="raise", cascade="all, delete-orphan"
    )


class ChannelIdentity(Base):
    """One address of a customer on one channel (a Telegram chat id, a web chat visitor id)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "address"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="identities", lazy="raise")


class CustomerEvent(Base):
    """Something the business's own systems told us about a customer (signed_up, purchased, ...)."""

    __tablename__ = "customer_events"
    __table_args__ = (
        Index("ix_customer_events_customer_occurred", "customer_id", "occurred_at"),
        # The retention programs read the events of some names that arrived since their last look (migration 0015).
        Index("ix_customer_events_name_received", "name", "received_at"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # The sender's id for this event: a retried POST is recognised and not applied twice.
    event_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
