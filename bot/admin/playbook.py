"""What the console does with the retention playbook's sections (win-back, activation, cross-sell, re-survey, rewards,
incident texts): checking a draft as config.yaml is checked (the model, then the flows, tiers and pools it names;
each problem at its field), saving it as the next version in the settings store with a line in the audit log, the
versions with their differences, restoring an old one, and each section in plain words for its card. This instance
puts a save in force at once, the others within a poll (Core.poll_saved)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.admin.diffs import DiffLine, diff_lines
from bot.config import Settings
from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.config.references import playbook_problems
from bot.config.rewards import RewardSettings
from bot.config.section import Section
from bot.conversations.registry import FlowRegistry
from bot.conversations.schema import ActionStep
from bot.ports import Clock
from bot.storage.database import Database
from bot.storage.sections import SectionStore
from bot.storage.versioned import SavedVersion, StaleVersion

# A field of a section's form by its path (steps.0.flow, rules.bike.tiers); "" for the section as a whole.
Problems = dict[str, str]


class SectionRefused(Exception):
    """A draft that cannot be saved, with its problems by field."""

    def __init__(self, message: str, problems: Problems | None = None):
        super().__init__(message)
        self.problems = problems or {}


@dataclass(frozen=True)
class SectionDiff:
    old: SavedVersion
    new: SavedVersion
    lines: list[DiffLine]


def _field_of(model: type[Section], loc: tuple[Any, ...], message: str) -> str:
    """The field a pydantic error belongs to: its location, or for a check over the whole section the field its
    message starts with (fixable_reasons [...] are not in reasons; goodwill_on_sla_breach.pool: ...)."""
    if loc:
        return ".".join(str(part) for part in loc)
    first = message.replace(":", " ").replace(".", " ").split(" ", 1)[0]
    return first if first in model.model_fields else ""


def check(
    settings: Settings, flows: FlowRegistry, name: str, data: Mapping[str, Any]
) -> tuple[Section | None, Problems]:
    """The draft of section `name` checked as config.yaml's is, and against the flows, tiers and pools in force."""
    model = PLAYBOOK_SECTIONS[name]
    try:
        section = model.model_validate(data)
    except ValidationError as exc:
        problems: Problems = {}
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.setdefault(_field_of(model, tuple(err["loc"]), message), message)
        return None, problems
    problems = playbook_problems(settings, name, section, [lf.id for lf in flows.all()])
    if isinstance(section, RewardSettings):
        for pool, flow_id in _pools_flows_give(flows).items():
            if pool not in section.pools:
                problems.setdefault("pools", f'flow "{flow_id}" gives rewards from pool "{pool}": keep that pool, or '
                                             "change the flow first")  # fmt: skip
    return (None if problems else section), problems


def _pools_flows_give(flows: FlowRegistry) -> dict[str, str]:
    """The reward pools the flows in force give from (their give_reward steps), each with a flow that does."""
    return {step.pool: lf.id for lf in flows.all() for step in lf.flow.steps
            if isinstance(step, ActionStep) and step.action == "give_reward" and step.pool}  # fmt: skip


class PlaybookConsole:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        flows: FlowRegistry,
        store: SectionStore,
        clock: Clock,
        reload: Callable[[], Awaitable[object]],
    ):
        self.db = db
        self.settings = settings
        self.flows = flows
        self.store = store
        self.clock = clock
        self.reload = reload  # puts the store's sections in force here (Core.load_sections)

    def in_force(self, name: str) -> Section:
        if name not in PLAYBOOK_SECTIONS:
            raise KeyError(name)
        section: Section = getattr(self.settings, name)
        return section

    async def heads(self) -> dict[str, SavedVersion]:
        return await self.store.heads()

    async def history(self, name: str) -> list[SavedVersion]:
        return await self.store.history(name)

    def check(self, name: str, data: Mapping[str, Any]) -> tuple[Section | None, Problems]:
        return check(self.settings, self.flows, name, data)

    async def save(
        self, name: str, data: Mapping[str, Any], *, author: str, expected_head: int, note: str = ""
    ) -> SavedVersion:
        """Check and save a draft as the section's next version; SectionRefused with its problems when it is not
        valid. `expected_head` is the version the editor started from."""
        section, problems = self.check(name, data)
        if section is None:
            raise SectionRefused("the settings have problems: fix them before saving", problems)
        if section == self.in_force(name):
            raise SectionRefused("nothing changed: these are the settings in force")
        return await self._save(name, section, author, note, "settings saved", expected_head)

    async def restore(self, name: str, number: int, *, author: str) -> SavedVersion:
        """Put an old version in force again, as the newest version (checked again: a flow it names may be gone)."""
        old = await self.store.get(name, number)
        if old is None:
            raise SectionRefused(f"{name} has no version {number}")
        history = await self.store.history(name)
        section, problems = self.check(name, self.store.decode(old).model_dump(mode="json"))
        if section is None:
            raise SectionRefused(f"version {number} cannot be used now: " + "; ".join(
                f"{field}: {problem}" if field else problem for field, problem in problems.items()))  # fmt: skip
        if section == self.in_force(name):
            raise SectionRefused(f"version {number} is the same as the settings in force")
        note = f"restored version {number}"
        return await self._save(name, section, author, note, "settings restored", history[0].number)

    async def _save(
        self, name: str, section: Section, author: str, note: str, action: str, expected_head: int
    ) -> SavedVersion:
        async def log(session: AsyncSession, at: datetime) -> None:
            detail = f"version {expected_head + 1}" + (f": {note}" if note else "")
            audit.record(session, at, author, action, f"playbook:{name}", detail)

        try:
            saved = await self.store.save(name, section, author=author, note=note, expected_head=expected_head,
                                          also=log)  # fmt: skip
        except StaleVersion as exc:
            raise SectionRefused(str(exc)) from None
        await self.reload()
        return saved

    async def diff(self, name: str, old_number: int, new_number: int) -> SectionDiff | None:
        old, new = await self.store.get(name, old_number), await self.store.get(name, new_number)
        if old is None or new is None:
            return None
        return SectionDiff(old, new, diff_lines(old.source, new.source, old.number, new.number))
