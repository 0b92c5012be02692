"""The flow store's tables: every published version of every flow, and what the files in flows/ last held."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow

# Where a version came from.
FROM_FILE = "file"  # imported from flows/ (at start, on a file change, `engagebot flows import`)
FROM_CONSOLE = "console"  # published in the admin console
FROM_ROLLBACK = "rollback"  # an older version published again
FROM_RETIRE = "retire"  # retired in the console: the same source, served by no instance


class FlowPublish(Base):
    """One published version of a flow. The newest row of a flow (highest number) is its head: the one in force."""

    __tablename__ = "flow_publishes"
    __table_args__ = (UniqueConstraint("flow_id", "number"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(100), index=True)
    number: Mapped[int]  # 1, 2, 3... per flow
    version: Mapped[str] = mapped_column(String(64))  # the content hash conversations record (loader.flow_version)
    filename: Mapped[str] = mapped_column(String(200))  # relative to flows/, where `flows export` writes it
    source: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(60))
    note: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("flow_publishes.id"))  # the head it replaced
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Retired in the console: no instance serves the flow (its file, if any, stays behind until edited again).
    retired: Mapped[bool] = mapped_column(default=False, server_default=false())


class FlowFileMark(Base):
    """The version the flow's file in flows/ was last known to hold (imported from it, or exported to it): a file
    that differs from its mark was edited, and may replace the head only if the head is still that version."""

    __tablename__ = "flow_file_marks"

    flow_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
