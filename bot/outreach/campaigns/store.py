"""The campaign store: every saved version of every campaign, in the database, shared by all instances.

The head of a campaign (its newest version) is what every instance plans and delivers; a retired head means the
campaign is gone. config.yaml stays first-class: its `campaigns:` are imported at start (and by every `engagebot`
command), by the same fast-forward rule as flow files (docs/admin.md), kept with one mark per campaign: the version
config.yaml was last known to hold (RETIRED once a campaign it held was removed from it).

- config == head: in sync.
- config == mark, head newer: the console saved since; the head is in force, config.yaml is merely behind.
- config != mark, head == mark: config.yaml was edited on top of the head; it is saved as the next version
  (a campaign removed from config.yaml is retired).
- config != mark, head != mark: both changed; config.yaml's edit is refused (logged), the head stays in force.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from ruamel.yaml import YAML
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Campaign
from bot.outreach.models import CampaignConfigMark, CampaignVersion
from bot.ports import Clock
from bot.storage.database import Database
from bot.storage.versions import highest_id, newest_of_each

log = logging.getLogger(__name__)
CONFIG_AUTHOR = "config.yaml"  # the author of versions imported from config.yaml
FROM_CONFIG = "config"
FROM_CONSOLE = "console"
RETIRED = "retired"  # the version (and config mark) of a campaign that is gone
# Called in the save's transaction with its time (the console's audit line, so a change and its record commit together).
AlsoInTransaction = Callable[[AsyncSession, datetime], Awaitable[None]]


def to_source(campaign: Campaign) -> str:
    """The campaign as it reads under `campaigns: NAME:` in config.yaml (only what differs from the defaults)."""
    data = campaign.model_dump(mode="json", exclude_defaults=True)
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data or {}, out)
    return out.getvalue()


def from_source(source: str) -> Campaign:
    return Campaign.model_validate(YAML(typ="safe", pure=True).load(source) or {})


def fingerprint(campaign: Campaign) -> str:
    """Equal for equal settings however config.yaml spells them (order, quoting, comments)."""
    canonical = json.dumps(campaign.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class SavedCampaign:
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
    def of(cls, row: CampaignVersion) -> SavedCampaign:
        return cls(row.id, row.name, row.number, row.version, row.source, row.retired, row.origin, row.author,
                   row.note, row.saved_at)  # fmt: skip

    @property
    def campaign(self) -> Campaign:
        return from_source(self.source)


class StaleCampaign(Exception):
    """A save based on a version that is no longer the head (someone saved in between)."""


@dataclass
class ConfigSync:
    """What an import of config.yaml's campaigns did, campaign by campaign."""

    saved: list[SavedCampaign] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)
    behind: list[SavedCampaign] = field(default_factory=list)  # config.yaml is older than the console's version
    conflicts: list[str] = field(default_factory=list)  # messages: config.yaml's edit refused


class CampaignStore:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    # ---- reading ------------------------------------------------------------------------------

    async def heads(self) -> dict[str, SavedCampaign]:
        """The newest version of every campaign ever saved, retired ones included."""
        query = newest_of_each(CampaignVersion, CampaignVersion.name, CampaignVersion.number)
        async with self.db.sessions() as session:
            return {row.name: SavedCampaign.of(row) for row in (await session.execute(query)).scalars()}

    async def in_force(self) -> dict[str, Campaign]:
        """The campaigns every instance plans and delivers, by name (retired ones are not among them)."""
        in_force: dict[str, Campaign] = {}
        for name, head in sorted((await self.heads()).items()):
            if head.retired:
                continue
            try:
                in_force[name] = head.campaign
            except (ValidationError, ValueError):  # saved by a release that allowed it: the others still work
                log.exception("campaign %s version %d cannot be read; it is not in force", name, head.number)
        return in_force

    async def marks(self) -> dict[str, str]:
        async with self.db.sessions() as session:
            return {m.name: m.version for m in (await session.execute(select(CampaignConfigMark))).scalars()}

    async def history(self, name: str) -> list[SavedCampaign]:
        """Every version of the campaign, newest first."""
        query = select(CampaignVersion).where(CampaignVersion.name == name).order_by(CampaignVersion.number.desc())
        async with self.db.sessions() as session:
            return [SavedCampaign.of(row) for row in (await session.execute(query)).scalars()]

    async def latest_id(self) -> int:
        """Changes whenever any campaign is saved, on any instance: what the poll compares."""
        return await highest_id(self.db, CampaignVersion.id)

    # ---- writing ------------------------------------------------------------------------------

    async def save(
        self,
        name: str,
        campaign: Campaign | None,
        *,
        author: str,
        note: str = "",
        expected_head: int | None = None,
        also: AlsoInTransaction | None = None,
    ) -> SavedCampaign:
        """Save `campaign` as the next version of `name` (None retires it). With `expected_head` (the version the
        editor started from; 0 for a new campaign), refuses with StaleCampaign when someone saved in between."""
        try:
            async with self.db.transaction() as session:
                saved = await self._save(session, name, campaign, FROM_CONSOLE, author, note, expected_head)
                if also is not None:
                    await also(session, saved.saved_at)
        except IntegrityError:  # another instance took the same number at the same moment
            raise StaleCampaign(f"campaign {name} was saved by someone else at the same moment; reload it") from None
        log.info("campaign %s version %d saved by %s", name, saved.number, author)
        return saved

    async def _save(
        self,
        session: AsyncSession,
        name: str,
        campaign: Campaign | None,
        origin: str,
        author: str,
        note: str,
        expected_head: int | None,
    ) -> SavedCampaign:
        query = select(CampaignVersion).where(CampaignVersion.name == name).order_by(CampaignVersion.number.desc())
        head = (await session.execute(query.limit(1))).scalar_one_or_none()
        current = head.number if head else 0
        if expected_head is not None and expected_head != current:
            by = f" by {head.author}" if head else ""
            raise StaleCampaign(
                f"campaign {name} is at version {current}{by} now, not {expected_head}: reload and redo your change "
                "on top of it"
            )
        retiring = campaign is None
        row = CampaignVersion(
            name=name,
            number=current + 1,
            version=RETIRED if campaign is None else fingerprint(campaign),
            source=(head.source if head else "") if campaign is None else to_source(campaign),
            retired=retiring,
            origin=origin,
            author=author,
            note=note,
            saved_at=self.clock.now(),
        )
        session.add(row)
        await session.flush()
        return SavedCampaign.of(row)

    async def sync_config(self, config: Mapping[str, Campaign], *, force: bool = False) -> ConfigSync:
        """Import config.yaml's campaigns by the fast-forward rule above, in one transaction. `force` saves
        config.yaml's edits even over a console change."""
        result = ConfigSync()
        heads, marks = await self.heads(), await self.marks()
        now = self.clock.now()
        # Campaigns config.yaml held once (a mark) and holds no more count as retired there; but a config without any
        # campaign (or none at all: a command run in another folder) retires none, so a stray start cannot retire all.
        wanted = {name: fingerprint(c) for name, c in config.items()}
        if config:
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
                            await session.merge(CampaignConfigMark(name=name, version=version, at=now))
                    elif head is not None and version == mark:
                        result.behind.append(head)
                    elif head is not None and mark != head.version and not force:
                        result.conflicts.append(_conflict_message(name, head))
                    else:
                        edit = "removed from" if version == RETIRED else "imported from"
                        note = f"{edit} config.yaml" + (" (--force, over a console change)" if head else "")
                        saved = await self._save(
                            session, name, config.get(name), FROM_CONFIG, CONFIG_AUTHOR, note,
                            head.number if head else 0,
                        )  # fmt: skip
                        await session.merge(CampaignConfigMark(name=name, version=version, at=now))
                        result.saved.append(saved)
        except (IntegrityError, StaleCampaign):
            # Another instance imported the same config at the same moment: what it saved is in force.
            log.info("campaigns of config.yaml imported by another instance at the same moment")
            return ConfigSync()
        for saved in result.saved:
            log.info("campaign %s version %d %s", saved.name, saved.number, saved.note)
        for message in result.conflicts:
            log.error("config.yaml campaign refused: %s", message)
        return result


def _conflict_message(name: str, head: SavedCampaign) -> str:
    when = head.saved_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'campaign "{name}": config.yaml was edited, and the campaign was also changed in the console since '
        f"config.yaml was last imported (version {head.number} by {head.author}, {when}). config.yaml's edit is not "
        "imported; the console's version stays in force. Copy the console's version into config.yaml (the "
        "campaign's page shows it as YAML), or run `engagebot campaigns import --force` to overwrite the console's "
        "change"
    )
