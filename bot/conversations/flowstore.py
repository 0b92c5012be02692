"""The flow store: every published version of every flow, in the database, shared by all instances.

The head of a flow (its newest version) is what every instance serves. Files in flows/ stay first-class: they are
imported at start, on a file change, and by `engagebot flows import`. The rule that keeps a file edit and a console
edit from silently overwriting each other (docs/admin.md) is a fast-forward rule, kept with one mark per flow: the
version its file was last known to hold (imported from it, or exported to it).

- file == head: in sync.
- file == mark, head newer: the console published since; the head serves, the file is merely behind (export it).
- file != mark, head == mark: the file was edited on top of the head; it is published as the next version.
- file != mark, head != mark: both changed; the file is refused with a message, and the head keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.conversations.loader import LoadedFlow
from bot.conversations.published import FROM_FILE, FROM_RETIRE, FlowFileMark, FlowPublish
from bot.ports import Clock
from bot.storage.database import Database
from bot.storage.versioned import stale_message
from bot.storage.versions import highest_id, newest_of_each
from bot.yamlsource import Problem

log = logging.getLogger(__name__)
FILES_AUTHOR = "flows/"  # the author of versions imported from files


@dataclass(frozen=True)
class Published:
    id: int
    flow_id: str
    number: int
    version: str
    filename: str
    source: str
    origin: str
    author: str
    note: str
    parent_id: int | None
    published_at: datetime
    retired: bool = False

    @classmethod
    def of(cls, row: FlowPublish) -> Published:
        return cls(
            row.id,
            row.flow_id,
            row.number,
            row.version,
            row.filename,
            row.source,
            row.origin,
            row.author,
            row.note,
            row.parent_id,
            row.published_at,
            bool(row.retired),
        )


class StaleHead(Exception):
    """A publish based on a head that is no longer the head (someone published in between)."""


@dataclass
class FileSync:
    """What an import of the files did, flow by flow."""

    imported: list[Published] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)
    behind: list[Published] = field(default_factory=list)  # the file is older than the head: export it
    conflicts: list[Problem] = field(default_factory=list)


AlsoInTransaction = Callable[[AsyncSession, Published], Awaitable[None]]


class FlowStore:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    # ---- reading ------------------------------------------------------------------------------

    async def heads(self) -> dict[str, Published]:
        query = newest_of_each(FlowPublish, FlowPublish.flow_id, FlowPublish.number)
        async with self.db.sessions() as session:
            return {row.flow_id: Published.of(row) for row in (await session.execute(query)).scalars()}

    async def marks(self) -> dict[str, str]:
        async with self.db.sessions() as session:
            return {m.flow_id: m.version for m in (await session.execute(select(FlowFileMark))).scalars()}

    async def history(self, flow_id: str) -> list[Published]:
        """Every version of the flow, newest first."""
        query = select(FlowPublish).where(FlowPublish.flow_id == flow_id).order_by(FlowPublish.number.desc())
        async with self.db.sessions() as session:
            return [Published.of(row) for row in (await session.execute(query)).scalars()]

    async def get(self, flow_id: str, number: int) -> Published | None:
        query = select(FlowPublish).where(FlowPublish.flow_id == flow_id, FlowPublish.number == number)
        async with self.db.sessions() as session:
            row = (await session.execute(query)).scalar_one_or_none()
        return Published.of(row) if row else None

    @property
    def poll_column(self) -> InstrumentedAttribute[int]:
        """Its highest value changes whenever anything is published, on any instance: what the poll compares."""
        return FlowPublish.id

    async def latest_id(self) -> int:
        return await highest_id(self.db, self.poll_column)

    async def overlay(self) -> dict[str, Published]:
        """Heads the files do not hold (published in the console, or rolled back): by filename, to serve instead."""
        heads, marks = await self.heads(), await self.marks()
        return {
            head.filename: head
            for head in heads.values()
            if marks.get(head.flow_id) != head.version and not head.retired
        }

    async def retired_files(self) -> set[str]:
        """The files (relative to flows/) of flows retired in the console: served by no instance, file or not."""
        return {head.filename for head in (await self.heads()).values() if head.retired}

    # ---- writing ------------------------------------------------------------------------------

    async def publish(
        self,
        lf: LoadedFlow,
        filename: str,
        *,
        author: str,
        origin: str,
        note: str = "",
        expected_head: int | None = None,
        also: AlsoInTransaction | None = None,
    ) -> Published:
        """Publish `lf` as the flow's next version. With `expected_head` (the version number the editor started
        from; 0 for a new flow), refuses with StaleHead when someone published in between."""
        now = self.clock.now()
        try:
            async with self.db.transaction() as session:
                published = await self._publish(session, lf, filename, author, origin, note, expected_head, now)
                if also is not None:
                    await also(session, published)
        except IntegrityError:  # another instance took the same number at the same moment
            raise StaleHead(f"flow {lf.id} was published by someone else at the same moment; reload it") from None
        log.info("flow %s version %d published by %s (%s)", lf.id, published.number, author, origin)
        return published

    async def _publish(
        self,
        session: AsyncSession,
        lf: LoadedFlow,
        filename: str,
        author: str,
        origin: str,
        note: str,
        expected_head: int | None,
        now: datetime,
    ) -> Published:
        head = await _head(session, lf.id)
        current = head.number if head else 0
        if expected_head is not None and expected_head != current:
            raise StaleHead(stale_message("flow", lf.id, current, head.author if head else None, expected_head))
        row = FlowPublish(
            flow_id=lf.id,
            number=current + 1,
            version=lf.version,
            filename=filename,
            source=lf.source,
            origin=origin,
            author=author,
            note=note,
            parent_id=head.id if head else None,
            published_at=now,
        )
        session.add(row)
        await session.flush()
        return Published.of(row)

    async def retire(
        self, flow_id: str, *, author: str, expected_head: int, also: AlsoInTransaction | None = None
    ) -> Published:
        """Take the flow out of service on every instance: a version with the head's source, marked retired. Its file
        (if any) stays behind it; an edit of the file publishes it again (the fast-forward rule above)."""
        try:
            async with self.db.transaction() as session:
                head = await _head(session, flow_id)
                if head is None or head.number != expected_head:
                    raise StaleHead(f"flow {flow_id} is not at version {expected_head} any more: reload it")
                row = FlowPublish(
                    flow_id=flow_id, number=head.number + 1, version=head.version, filename=head.filename,
                    source=head.source, origin=FROM_RETIRE, author=author, note="retired", parent_id=head.id,
                    published_at=self.clock.now(), retired=True,
                )  # fmt: skip
                session.add(row)
                await session.flush()
                retired = Published.of(row)
                if also is not None:
                    await also(session, retired)
        except IntegrityError:
            raise StaleHead(f"flow {flow_id} was published by someone else at the same moment; reload it") from None
        log.info("flow %s retired by %s (version %d)", flow_id, author, retired.number)
        return retired

    async def mark(self, flow_id: str, version: str) -> None:
        """The flow's file now holds `version` (after an import or an export into flows/)."""
        async with self.db.transaction() as session:
            await _set_mark(session, flow_id, version, self.clock.now())

    async def sync_files(self, file_flows: Iterable[LoadedFlow], directory: Path, *, force: bool = False) -> FileSync:
        """Import the (valid) flows read from files by the fast-forward rule above, in one transaction. `force`
        publishes an edited file even over a console change (`engagebot flows import --force`)."""
        result = FileSync()
        heads, marks = await self.heads(), await self.marks()
        now = self.clock.now()
        try:
            async with self.db.transaction() as session:
                for lf in file_flows:
                    head, mark = heads.get(lf.id), marks.get(lf.id)
                    if head is not None and lf.version == head.version:
                        result.in_sync.append(lf.id)
                        if mark != lf.version:
                            await _set_mark(session, lf.id, lf.version, now)
                    elif head is not None and lf.version == mark:
                        result.behind.append(head)
                    elif head is not None and mark != head.version and not force:
                        result.conflicts.append(Problem(lf.path, 1, _conflict_message(lf.id, head)))
                    else:
                        filename = _relative(lf.path, directory)
                        note = f"imported from {filename}" + (" (--force, over a console change)" if head else "")
                        published = await self._publish(
                            session, lf, filename, FILES_AUTHOR, FROM_FILE, note, head.number if head else 0, now
                        )
                        await _set_mark(session, lf.id, lf.version, now)
                        result.imported.append(published)
        except (IntegrityError, StaleHead):
            # Another instance imported the same files at the same moment: what it published is in force.
            log.info("flow files imported by another instance at the same moment")
            return FileSync()
        for published in result.imported:
            log.info("flow %s version %d imported from %s", published.flow_id, published.number, published.filename)
        return result


async def _head(session: AsyncSession, flow_id: str) -> FlowPublish | None:
    query = select(FlowPublish).where(FlowPublish.flow_id == flow_id).order_by(FlowPublish.number.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def _set_mark(session: AsyncSession, flow_id: str, version: str, now: datetime) -> None:
    await session.merge(FlowFileMark(flow_id=flow_id, version=version, at=now))


def _relative(path: str, directory: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(directory.resolve()))
    except ValueError:
        return Path(path).name


def _conflict_message(flow_id: str, head: Published) -> str:
    when = head.published_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'flow "{flow_id}": this file was edited, and the flow was also changed in the console since the file '
        f"was last imported or exported (version {head.number} by {head.author}, {when}). The file is not "
        "imported; the console's version keeps serving. Run `engagebot flows export DIR`, merge your edit into "
        "that file, and import it (or `engagebot flows import --force` to overwrite the console's change)"
    )
