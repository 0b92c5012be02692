"""Every saved version of named settings (campaigns, playbook sections), in the database, shared by all instances.

The head of a name (its newest version) is what every instance puts in force; a retired head means the name is gone.
config.yaml stays first-class: what it holds is imported at start by a fast-forward rule, kept with one mark per
name: the version config.yaml was last known to hold (RETIRED once a name it held was removed from it).

- config == head: in sync.
- config == mark, head newer: the console saved since; the head is in force, config.yaml is merely behind.
- config != mark, head == mark: config.yaml was edited on top of the head; it is saved as the next version
  (a name removed from config.yaml is retired).
- config != mark, head != mark: both changed; config.yaml's edit is refused (logged), the head stays in force.

The tables are the caller's (one pair per kind of settings, so their ids and names never mix); they share the columns
of VersionRow and MarkRow. A version's source is YAML as it reads in config.yaml (only what differs from the
defaults); its fingerprint is equal for equal settings however config.yaml spells them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.ports import Clock
from bot.storage.database import Database
from bot.storage.versions import highest_id, newest_of_each

log = logging.getLogger(__name__)
CONFIG_AUTHOR = "config.yaml"  # the author of versions imported from config.yaml
FROM_CONFIG = "config"
FROM_CONSOLE = "console"
RETIRED = "retired"  # the version (and config mark) of a name that is gone
# Called in the save's transaction with its time (the console's audit line, so a change and its record commit together).
AlsoInTransaction = Callable[[AsyncSession, datetime], Awaitable[None]]
Model = TypeVar("Model", bound=BaseModel)


def to_source(value: BaseModel) -> str:
    """The settings as they read in config.yaml under their name (only what differs from the defaults)."""
    data = value.model_dump(mode="json", exclude_defaults=True)
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data or {}, out)
    return out.getvalue()


def from_source(model: type[Model], source: str) -> Model:
    return model.model_validate(YAML(typ="safe", pure=True).load(source) or {})


def fingerprint(value: BaseModel) -> str:
    """Equal for equal settings however config.yaml spells them (order, quoting, comments, defaults written out)."""
    canonical = json.dumps(value.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class VersionRow(Protocol):
    """The columns a table of versions has (bot/outreach/models.py CampaignVersion is one)."""

    id: Any
    name: Any
    number: Any
    version: Any
    source: Any
    retired: Any
    origin: Any
    author: Any
    note: Any
    saved_at: Any


@dataclass(frozen=True)
class SavedVersion:
    id: int
    name: str
    number: int
    version: str
    source: str
    retired: bool
    origin: str
    author: str
    note: str
    saved_at: datetime

    @classmethod
    def of(cls, row: VersionRow) -> SavedVersion:
        return cls(row.id, row.name, row.number, row.version, row.source, row.retired, row.origin, row.author,
                   row.note, row.saved_at)  # fmt: skip


class StaleVersion(Exception):
    """A save based on a version that is no longer the head (someone saved in between)."""


def stale_message(what: str, name: str, current: int, author: str | None, expected: int) -> str:
    """Why a save based on version `expected` is refused while `current` (by `author`) is the head: flows and the
    stores of this module say it alike."""
    by = f" by {author}" if author else ""
    return f"{what} {name} is at version {current}{by} now, not {expected}: reload and redo your change on top of it"


@dataclass
class ConfigSync:
    """What an import of config.yaml did, name by name."""

    saved: list[SavedVersion] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)
    behind: list[SavedVersion] = field(default_factory=list)  # config.yaml is older than the console's version
    conflicts: list[str] = field(default_factory=list)  # messages: config.yaml's edit refused


class VersionedStore(Generic[Model]):
    """The versions of one kind of named settings. Subclasses say which tables, which model each name has, and what
    to tell an admin whose config.yaml edit is refused."""

    what = "settings"  # how messages and logs name one of them ("campaign")
    # Whether a name config.yaml held once and holds no more is retired (a campaign), or simply kept (a section, which
    # config.yaml without it holds at its defaults).
    retires_missing = True

    def __init__(self, db: Database, clock: Clock, versions: type[Any], marks: type[Any]):
        self.db = db
        self.clock = clock
        self.versions = versions
        self.marks_table = marks

    def model_of(self, name: str) -> type[Model]:
        raise NotImplementedError

    def conflict_message(self, name: str, head: SavedVersion) -> str:
        raise NotImplementedError

    def decode(self, saved: SavedVersion) -> Model:
        return from_source(self.model_of(saved.name), saved.source)

    # ---- reading ------------------------------------------------------------------------------

    async def heads(self) -> dict[str, SavedVersion]:
        """The newest version of every name ever saved, retired ones included."""
        query = newest_of_each(self.versions, self.versions.name, self.versions.number)
        async with self.db.sessions() as session:
            return {row.name: SavedVersion.of(row) for row in (await session.execute(query)).scalars()}

    async def in_force(self) -> dict[str, Model]:
        """What every instance puts in force, by name (retired ones are not among them)."""
        in_force: dict[str, Model] = {}
        for name, head in sorted((await self.heads()).items()):
            if head.retired:
                continue
            try:
                in_force[name] = self.decode(head)
            except (ValidationError, ValueError):  # saved by a release that allowed it: the others still work
                log.exception("%s %s version %d cannot be read; it is not in force", self.what, name, head.number)
        return in_force

    async def marks(self) -> dict[str, str]:
        async with self.db.sessions() as session:
            return {m.name: m.version for m in (await session.execute(select(self.marks_table))).scalars()}

    async def history(self, name: str) -> list[SavedVersion]:
        """Every version of `name`, newest first."""
        query = select(self.versions).where(self.versions.name == name).order_by(self.versions.number.desc())
        async with self.db.sessions() as session:
            return [SavedVersion.of(row) for row in (await session.execute(query)).scalars()]

    async def get(self, name: str, number: int) -> SavedVersion | None:
        query = select(self.versions).where(self.versions.name == name, self.versions.number == number)
        async with self.db.sessions() as session:
            row = (await session.execute(query)).scalar_one_or_none()
        return SavedVersion.of(row) if row is not None else None

    @property
    def poll_column(self) -> InstrumentedAttribute[int]:
        """Its highest value changes whenever anything of this kind is saved, on any instance: what the poll
        compares."""
        return self.versions.id  # type: ignore[no-any-return]

    async def latest_id(self) -> int:
        return await highest_id(self.db, self.poll_column)

    # ---- writing ------------------------------------------------------------------------------

    async def save(
        self,
        name: str,
        value: Model | None,
        *,
        author: str,
        note: str = "",
        expected_head: int | None = None,
        also: AlsoInTransaction | None = None,
    ) -> SavedVersion:
        """Save `value` as the next version of `name` (None retires it). With `expected_head` (the version the
        editor started from; 0 for a new name), refuses with StaleVersion when someone saved in between."""
        try:
            async with self.db.transaction() as session:
                saved = await self._save(session, name, value, FROM_CONSOLE, author, note, expected_head)
                if also is not None:
                    await also(session, saved.saved_at)
        except IntegrityError:  # another instance took the same number at the same moment
            raise StaleVersion(f"{self.what} {name} was saved by someone else at the same moment; reload it") from None
        log.info("%s %s version %d saved by %s", self.what, name, saved.number, author)
        return saved

    async def _save(
        self,
        session: AsyncSession,
        name: str,
        value: Model | None,
        origin: str,
        author: str,
        note: str,
        expected_head: int | None,
    ) -> SavedVersion:
        table = self.versions
        query = select(table).where(table.name == name).order_by(table.number.desc())
        head = (await session.execute(query.limit(1))).scalar_one_or_none()
        current = head.number if head else 0
        if expected_head is not None and expected_head != current:
            raise StaleVersion(stale_message(self.what, name, current, head.author if head else None, expected_head))
        row = table(
            name=name,
            number=current + 1,
            version=RETIRED if value is None else fingerprint(value),
            source=(head.source if head else "") if value is None else to_source(value),
            retired=value is None,
            origin=origin,
            author=author,
            note=note,
            saved_at=self.clock.now(),
        )
        session.add(row)
        await session.flush()
        return SavedVersion.of(row)

    async def sync_config(self, config: Mapping[str, Model], *, force: bool = False) -> ConfigSync:
        """Import what config.yaml holds by the fast-forward rule above, in one transaction. `force` saves
        config.yaml's edits even over a console change."""
        result = ConfigSync()
        heads, marks = await self.heads(), await self.marks()
        now = self.clock.now()
        # Names config.yaml held once (a mark) and holds no more count as retired there; but a config without any
        # (or none at all: a command run in another folder) retires none, so a stray start cannot retire all.
        wanted = {name: fingerprint(value) for name, value in config.items()}
        if config and self.retires_missing:
            wanted.update({name: RETIRED for name in marks if name not in config})
        try:
            async with self.db.transaction() as session:
                for name, version in sorted(wanted.items()):
                    head, mark = heads.get(name), marks.get(name)
                    if head is None and version == RETIRED:
                        continue
                    if head is not None and version == head.version:
                        result.in_sync.append(name)
                        if mark != version:
                            await session.merge(self.marks_table(name=name, version=version, at=now))
                    elif head is not None and version == mark:
                        result.behind.append(head)
                    elif head is not None and mark != head.version and not force:
                        result.conflicts.append(self.conflict_message(name, head))
                    else:
                        edit = "removed from" if version == RETIRED else "imported from"
                        note = f"{edit} config.yaml" + (" (--force, over a console change)" if head else "")
                        saved = await self._save(
                            session, name, config.get(name), FROM_CONFIG, CONFIG_AUTHOR, note,
                            head.number if head else 0,
                        )  # fmt: skip
                        await session.merge(self.marks_table(name=name, version=version, at=now))
                        result.saved.append(saved)
        except (IntegrityError, StaleVersion):
            # Another instance imported the same config at the same moment: what it saved is in force.
            log.info("%ss of config.yaml imported by another instance at the same moment", self.what)
            return ConfigSync()
        for saved in result.saved:
            log.info("%s %s version %d %s", self.what, saved.name, saved.number, saved.note)
        for message in result.conflicts:
            log.error("config.yaml %s refused: %s", self.what, message)
        return result


def saved_when(head: SavedVersion) -> str:
    """Who saved the head and when, for a refusal message."""
    return f"version {head.number} by {head.author}, {head.saved_at.strftime('%Y-%m-%d %H:%M UTC')}"
