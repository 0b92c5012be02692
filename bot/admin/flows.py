"""What the console does with flows: the list, checking a draft as `flows check` does, publishing, the versions
with their diffs, and rollback. Every change is a version in the flow store and a line in the audit log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.admin.diffs import DiffLine, diff_lines
from bot.config import Campaign, Settings
from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.config.references import playbook_problems
from bot.config.section import Section
from bot.conversations import schema as s
from bot.conversations.flowstore import FlowStore, Published, StaleHead
from bot.conversations.loader import LoadedFlow, cross_check, parse_flow, reward_pool_problems
from bot.conversations.models import OPEN_STATUSES, ConversationRun
from bot.conversations.published import FROM_CONSOLE, FROM_ROLLBACK
from bot.conversations.registry import FlowRegistry
from bot.ports import Clock
from bot.storage.database import Database
from bot.yamlsource import Problem, SourceError

STARTER = "starter.yaml"  # the template a new flow starts from (bot/admin/starter.yaml)


class FlowRefused(Exception):
    """A draft that cannot be published, with its problems (at their lines) or the reason."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class FlowRow:
    id: str
    title: str
    triggers: list[str]
    valid: bool
    in_progress: int
    version: int | None
    changed_at: datetime | None
    changed_by: str | None
    filename: str


@dataclass(frozen=True)
class Diff:
    old: Published
    new: Published
    lines: list[DiffLine]


def describe_trigger(trigger: s.Trigger) -> str:
    if isinstance(trigger, s.CommandTrigger):
        return trigger.command
    if isinstance(trigger, s.MenuTrigger):
        return f"menu: {trigger.menu}"
    if isinstance(trigger, s.EventTrigger):
        return f"event: {trigger.event}"
    if isinstance(trigger, s.IntentTrigger):
        return f"{len(trigger.intent)} phrases"
    return "?"


def starter_source(flow_id: str, title: str) -> str:
    template = files("bot.admin").joinpath(STARTER).read_text(encoding="utf-8")
    return template.replace("new_flow", flow_id).replace("New flow", title or flow_id)


class FlowConsole:
    def __init__(
        self,
        db: Database,
        registry: FlowRegistry,
        store: FlowStore,
        clock: Clock,
        reload: Callable[[], Awaitable[object]],
        settings: Settings,
    ):
        self.db = db
        self.settings = settings  # the reward pools a give_reward step may name
        self.registry = registry
        self.store = store
        self.clock = clock
        self.reload = reload  # brings the flows in force up to date with the store (Core.load_flows)

    async def rows(self) -> list[FlowRow]:
        heads = await self.store.heads()
        query = (
            select(ConversationRun.flow_id, func.count())
            .where(ConversationRun.status.in_(OPEN_STATUSES))
            .group_by(ConversationRun.flow_id)
        )
        async with self.db.sessions() as session:
            running = {flow_id: n for flow_id, n in await session.execute(query)}
        rows = []
        for lf in self.registry.all():
            head = heads.get(lf.id)
            rows.append(
                FlowRow(
                    lf.id,
                    lf.flow.title or lf.id,
                    [describe_trigger(t) for t in lf.flow.triggers],
                    valid=True,
                    in_progress=int(running.get(lf.id, 0)),
                    version=head.number if head else None,
                    changed_at=head.published_at if head else None,
                    changed_by=head.author if head else None,
                    filename=head.filename if head else lf.path.rsplit("/", 1)[-1],
                )
            )
        for head in heads.values():  # published, but not in force here (refused, e.g. it names a missing flow)
            if self.registry.current(head.flow_id) is None and not head.retired:
                rows.append(
                    FlowRow(
                        head.flow_id,
                        head.flow_id,
                        [],
                        False,
                        int(running.get(head.flow_id, 0)),
                        head.number,
                        head.published_at,
                        head.author,
                        head.filename,
                    )
                )
        return sorted(rows, key=lambda r: r.id)

    async def retired(self) -> list[Published]:
        """Flows retired in the console, each restorable by rolling back to the version before its retirement."""
        return sorted((h for h in (await self.store.heads()).values() if h.retired), key=lambda h: h.flow_id)

    def users_of(self, flow_id: str, campaigns: Mapping[str, Campaign]) -> list[str]:
        """What would break if the flow were gone: the flows in force that name it, the campaigns and the playbook's
        practices that start it."""
        others = [lf for lf in self.registry.all() if lf.id != flow_id]
        _flows, problems = cross_check(others)
        ids = {lf.path: lf.id for lf in others}
        flows = sorted({ids.get(p.path, p.path) for p in problems if f'unknown flow "{flow_id}"' in p.message})
        named = [name for name, c in campaigns.items() if flow_id in (c.flow, *(b.flow for b in c.buttons))]
        # A practice of the playbook that is on and starts it (win-back steps, activation nudges, a cross-sell rule,
        # the re-survey): what it names is checked as the console checks a save, without this flow.
        without = {lf.id for lf in others}
        sections = {name: getattr(self.settings, name) for name in PLAYBOOK_SECTIONS}

        def starts_it(name: str, section: Section) -> bool:
            said = playbook_problems(self.settings, name, section, without).values()
            return getattr(section, "enabled", True) and any(f'"{flow_id}"' in problem for problem in said)

        practices = [name for name, section in sections.items() if starts_it(name, section)]
        return ([f"flow {f}" for f in flows] + [f"campaign {name}" for name in sorted(named)]
                + [f"playbook {name}" for name in practices])  # fmt: skip

    async def retire(
        self, flow_id: str, *, author: str, expected_head: int, campaigns: Mapping[str, Campaign]
    ) -> Published:
        """Take the flow out of service on every instance (conversations in progress finish on their version);
        refused while a flow or a campaign in force names it."""
        if self.registry.current(flow_id) is None:
            raise FlowRefused(f"there is no flow {flow_id!r} in force")
        users = self.users_of(flow_id, campaigns)
        if users:
            raise FlowRefused(f"{', '.join(users)} still name{'s' if len(users) == 1 else ''} it: change "
                              f"{'it' if len(users) == 1 else 'them'} first")  # fmt: skip

        async def log(session: AsyncSession, retired: Published) -> None:
            audit.record(session, retired.published_at, author, "flow retired", f"flow:{flow_id}",
                         f"version {retired.number}")  # fmt: skip

        try:
            retired = await self.store.retire(flow_id, author=author, expected_head=expected_head, also=log)
        except StaleHead as exc:
            raise FlowRefused(str(exc)) from None
        await self.reload()
        return retired

    def check(self, flow_id: str | None, source: str, filename: str) -> tuple[LoadedFlow | None, list[Problem]]:
        """The draft checked as `flows check` checks files: on its own, then with every other flow in force (ids,
        commands, flow names). `flow_id` is the flow being edited (None for a new one)."""
        try:
            lf = parse_flow(source, filename)
        except SourceError as exc:
            return None, exc.problems
        if flow_id is not None and lf.id != flow_id:
            line = source[: source.find("flow:")].count("\n") + 1 if "flow:" in source else 1
            return None, [Problem(filename, line, f'the flow id must stay "{flow_id}" (create a new flow instead)')]
        others = [other for other in self.registry.all() if other.id != lf.id]
        _flows, cross = cross_check([*others, lf])
        return lf, [p for p in cross + reward_pool_problems([lf], self.settings) if p.path == filename]

    async def publish(
        self,
        flow_id: str | None,
        source: str,
        *,
        author: str,
        note: str,
        expected_head: int | None,
        filename: str | None = None,
        origin: str = FROM_CONSOLE,
    ) -> Published:
        """Check and publish a draft; FlowRefused with its problems when it is not valid."""
        heads = await self.store.heads()
        head = heads.get(flow_id) if flow_id else None
        name = filename or (head.filename if head else None) or self._filename(flow_id)
        lf, problems = self.check(flow_id, source, name)
        if lf is None or problems:
            raise FlowRefused("the flow has problems: fix them before publishing", problems)
        retired = flow_id is None and lf.id in heads and heads[lf.id].retired
        if flow_id is None and not retired and (lf.id in heads or self.registry.current(lf.id) is not None):
            raise FlowRefused(f'a flow "{lf.id}" exists already: choose another id')
        if retired:  # a new flow under a retired one's id continues its versions
            expected_head = heads[lf.id].number
        if head is not None and head.version == lf.version and origin == FROM_CONSOLE:
            raise FlowRefused("nothing changed: this is the version in force")
        name = name if flow_id else f"{lf.id}.yaml"
        action = (
            "flow created" if flow_id is None else ("flow rolled back" if origin == FROM_ROLLBACK else "flow published")
        )

        async def log(session, published: Published) -> None:  # type: ignore[no-untyped-def]
            audit.record(
                session,
                published.published_at,
                author,
                action,
                f"flow:{lf.id}",
                f"version {published.number}" + (f": {note}" if note else ""),
            )

        try:
            published = await self.store.publish(
                lf, name, author=author, origin=origin, note=note, expected_head=expected_head, also=log
            )
        except StaleHead as exc:
            raise FlowRefused(str(exc)) from None
        await self.reload()  # this instance serves it at once; the others within a poll (Core.poll_saved)
        return published

    def _filename(self, flow_id: str | None) -> str:
        lf = self.registry.current(flow_id) if flow_id else None
        return lf.path.rsplit("/", 1)[-1] if lf is not None else f"{flow_id}.yaml"

    async def rollback(self, flow_id: str, number: int, *, author: str) -> Published:
        old = await self.store.get(flow_id, number)
        if old is None:
            raise FlowRefused(f"flow {flow_id} has no version {number}")
        history = await self.store.history(flow_id)
        return await self.publish(
            flow_id,
            old.source,
            author=author,
            note=f"rollback to version {number}",
            expected_head=history[0].number,
            filename=old.filename,
            origin=FROM_ROLLBACK,
        )

    async def diff(self, flow_id: str, old_number: int, new_number: int) -> Diff | None:
        old, new = await self.store.get(flow_id, old_number), await self.store.get(flow_id, new_number)
        if old is None or new is None:
            return None
        lines = diff_lines(old.source, new.source, old.number, new.number)
        return Diff(old, new, lines)
