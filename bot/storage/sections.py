"""The settings store: every saved version of each playbook section (winback, activation, crosssell, resurvey,
rewards, incidents), in the database, shared by all instances. config.yaml's sections are imported at start by the
fast-forward rule of bot/storage/versioned.py, as campaigns are; the head of each is in force on every instance
(Core.load_sections puts it in the shared Settings)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.config.section import Section
from bot.ports import Clock
from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow
from bot.storage.database import Database
from bot.storage.versioned import SavedVersion, VersionedStore, saved_when


class SectionVersion(Base):
    """One saved version of a playbook section (as YAML, as it reads under its name in config.yaml). The newest row
    of a section is its head: the one in force on every instance."""

    __tablename__ = "section_versions"
    __table_args__ = (UniqueConstraint("name", "number"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)  # the section: winback, rewards...
    number: Mapped[int]  # 1, 2, 3... per section
    version: Mapped[str] = mapped_column(String(64))  # a hash of the settings (what the config mark compares)
    source: Mapped[str] = mapped_column(Text)
    # Always false: a section cannot be removed (config.yaml without it holds its defaults). The column keeps one
    # store for sections and campaigns, which can be retired.
    retired: Mapped[bool] = mapped_column(default=False)
    origin: Mapped[str] = mapped_column(String(16))  # "config" or "console"
    author: Mapped[str] = mapped_column(String(60))
    note: Mapped[str] = mapped_column(Text, default="")
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)


class SectionConfigMark(Base):
    """The version config.yaml was last known to hold for a section (its hash): a config that differs from its mark
    was edited, and may replace the head only if the head is the mark."""

    __tablename__ = "section_config_marks"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SectionStore(VersionedStore[Section]):
    what = "section"
    retires_missing = False

    def __init__(self, db: Database, clock: Clock):
        super().__init__(db, clock, SectionVersion, SectionConfigMark)

    def model_of(self, name: str) -> type[Section]:
        if name not in PLAYBOOK_SECTIONS:  # saved by a later release: not in force here (logged)
            raise ValueError(f"this release has no playbook section {name!r}")
        return PLAYBOOK_SECTIONS[name]

    def conflict_message(self, name: str, head: SavedVersion) -> str:
        return (
            f'section "{name}": config.yaml was edited, and the section was also changed in the console since '
            f"config.yaml was last imported ({saved_when(head)}). config.yaml's edit is not imported; the console's "
            f"version stays in force. Copy the console's version into config.yaml (/admin/playbook/{name} shows it "
            "as YAML), or run `engagebot playbook import --force` to overwrite the console's change"
        )
