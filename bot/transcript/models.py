"""The transcript's table: every message either way, one row each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

INBOUND = "in"
OUTBOUND = "out"


class Message(Base):
    """The transcript: every inbound message is stored before it is answered."""

    __tablename__ = "messages"
    # A platform message id seen twice is a duplicate delivery (NULLs never collide).
    __table_args__ = (
        UniqueConstraint("channel", "platform_message_id"),
        Index("ix_messages_customer_id_id", "customer_id", "id"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # INBOUND or OUTBOUND
    channel: Mapped[str] = mapped_column(String(32))
    platform_message_id: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
