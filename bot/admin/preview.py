"""The preview: a draft flow, unsaved, run against a scratch store (a throwaway SQLite database in a temporary
folder) with a clock of its own, never the real database or real customers.

Each preview is a small core of its own: the flows in force with the draft in place of its published version, a test
customer with the tier, language and attributes asked for, and a clock that "skip the wait" moves to the moment a
`wait` ends. Previews live in the memory of the instance that started them and are thrown away after a while.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

import bot.models  # noqa: F401  (every table, for the scratch database)
from bot.config import DatabaseSettings, Settings
from bot.conversations.deliver import deliver_proactively
from bot.conversations.engine import ConversationEngine
from bot.conversations.loader import LoadedFlow
from bot.conversations.models import ACTIVE, OPEN_STATUSES, WAITING, ConversationRun
from bot.conversations.registry import FlowRegistry
from bot.conversations.runs import Running
from bot.conversations.turn import Turn
from bot.customers import records as customers
from bot.messages import ChannelRef, Inbound
from bot.ports import Clock
from bot.storage.base import Base
from bot.storage.database import Database
from bot.transcript import Transcripts
from bot.yamlsource import Problem, SourceError

log = logging.getLogger(__name__)
CHANNEL, ADDRESS = "preview", "test-customer"
MAX_PREVIEWS = 8  # per instance; the oldest is thrown away first
IDLE_SECONDS = 1800


class PreviewError(Exception):
    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class PreviewRequest:
    action: str  # start | say | press | skip
    flow: str = ""
    source: str = ""
    step: int = 0
    tier: str = ""
    language: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    preview: str = ""
    text: str = ""
    choice: str = ""

    @classmethod
    def of(cls, data: dict[str, Any]) -> PreviewRequest:
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise PreviewError("attributes must be name: value pairs")
        try:
            step = int(data.get("step") or 0)
        except (TypeError, ValueError):
            raise PreviewError("step must be a step number") from None
        return cls(
            action=str(data.get("action", "")),
            flow=str(data.get("flow", "")),
            source=str(data.get("source", "")),
            step=step,
            tier=str(data.get("tier") or ""),
            language=str(data.get("language") or ""),
            attributes={str(k): v for k, v in attributes.items()},
            preview=str(data.get("preview", "")),
            text=str(data.get("text", "")),
            choice=str(data.get("choice", "")),
        )


class PreviewClock:
    """Starts at the real time; only "skip the wait" moves it on (besides real time passing)."""

    def __init__(self, start: datetime):
        self.offset = start
        self.started = time.monotonic()
        self.skipped = start - start

    def now(self) -> datetime:
        from datetime import timedelta

        return self.offset + self.skipped + timedelta(seconds=time.monotonic() - self.started)

    def skip_to(self, moment: datetime) -> None:
        gap = moment - self.now()
        if gap.total_seconds() > 0:
            self.skipped += gap


@dataclass
class Scratch:
    folder: Path
    db: Database
    engine: ConversationEngine
    clock: PreviewClock
    owner: str
    flow_id: str
    seen: int = 0
    used: float = field(default_factory=time.monotonic)


class Previews:
    def __init__(self, settings: Settings, registry: FlowRegistry, clock: Clock):
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self._open: OrderedDict[str, Scratch] = OrderedDict()

    async def act(self, owner: str, request: PreviewRequest) -> dict[str, Any]:
        await self._drop_idle()
        if request.action == "start":
            key, scratch = await self._start(owner, request)
        else:
            key = request.preview
            found = self._open.get(key)
            if found is None or found.owner != owner:
                raise PreviewError("this preview has ended (it was idle, or another instance served it): start again")
            scratch = found
            scratch.used = time.monotonic()
            await self._step(scratch, request)
        return {"preview": key, **await self._state(scratch)}

    async def _start(self, owner: str, request: PreviewRequest) -> tuple[str, Scratch]:
        draft = self._draft(request)
        if not 0 <= request.step < len(draft.flow.steps):
            raise PreviewError(f"the flow has steps 1 to {len(draft.flow.steps)}")
        folder = Path(tempfile.mkdtemp(prefix="engagebot-preview-"))
        db = Database(f"sqlite+aiosqlite:///{folder / 'preview.db'}")
        async with db.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        registry = FlowRegistry(folder)
        registry.install([lf for lf in self.registry.all() if lf.id != draft.id] + [draft])
        clock = PreviewClock(self.clock.now())
        settings = self.settings.model_copy(update={"database": DatabaseSettings(url=str(db.engine.url))})
        scratch = Scratch(folder, db, ConversationEngine(db, registry, settings, clock), clock, owner, draft.id)
        key = secrets.token_urlsafe(12)
        self._open[key] = scratch
        while len(self._open) > MAX_PREVIEWS:
            _old, oldest = self._open.popitem(last=False)
            await _close(oldest)
        await self._begin(scratch, draft, request)
        return key, scratch

    def _draft(self, request: PreviewRequest) -> LoadedFlow:
        from bot.conversations.loader import parse_flow

        current = self.registry.current(request.flow)
        path = current.path if current is not None else f"{request.flow or 'draft'}.yaml"
        try:
            return parse_flow(request.source, path)
        except SourceError as exc:
            raise PreviewError("the draft has problems: fix them to preview it", exc.problems) from None

    async def _begin(self, scratch: Scratch, draft: LoadedFlow, request: PreviewRequest) -> None:
        """The test customer, and the draft's run at the asked step, run until it waits for something."""
        now = scratch.clock.now()
        async with scratch.db.transaction() as session:
            customer = await customers.create_with_identity(
                session,
                ChannelRef(CHANNEL, ADDRESS),
                now,
                display_name="Test Customer",
                language=request.language or None,
                tier=request.tier or self.settings.tiers.default,
            )
            customer.attributes = dict(request.attributes)
            turn = Turn(session, customer, now, CHANNEL)
            runs = scratch.engine.runs
            await runs.versions.store(turn, draft)
            run = ConversationRun(
                customer_id=customer.id,
                flow_id=draft.id,
                flow_version=draft.version,
                step_index=request.step,
                status=ACTIVE,
                answers={},
                context={"trigger": {}},
                started_at=now,
                updated_at=now,
            )
            session.add(run)
            await session.flush()
            await runs.run(turn, Running(run, draft))
            await deliver_proactively(turn, f"preview:{run.id}")

    async def _step(self, scratch: Scratch, request: PreviewRequest) -> None:
        if request.action in ("say", "press"):
            if request.action == "say" and not request.text.strip():
                raise PreviewError("type a message first")
            inbound = Inbound(
                channel=CHANNEL,
                address=ADDRESS,
                text=request.text if request.action == "say" else None,
                choice=request.choice if request.action == "press" else None,
                display_name="Test Customer",
            )
            await scratch.engine.handle(inbound)
        elif request.action == "skip":
            waiting = await _runs(scratch.db, (WAITING,))
            if not waiting or waiting[0].resume_at is None:
                raise PreviewError("nothing is waiting")
            scratch.clock.skip_to(waiting[0].resume_at)
            await scratch.engine.resume_run(waiting[0].id)
        else:
            raise PreviewError(f"unknown preview action {request.action!r}")

    async def _state(self, scratch: Scratch) -> dict[str, Any]:
        entries = await Transcripts(scratch.db).after(ChannelRef(CHANNEL, ADDRESS), scratch.seen)
        if entries:
            scratch.seen = entries[-1].id
        open_runs = await _runs(scratch.db, OPEN_STATUSES)
        latest = open_runs[0] if open_runs else (await _runs(scratch.db, None) or [None])[0]
        waiting = next((r for r in open_runs if r.status == WAITING), None)
        return {
            "messages": [
                {"direction": e.direction, "text": e.text or "", "buttons": e.payload.get("buttons", [])}
                for e in entries
            ],
            "answers": dict(latest.answers) if latest else {},
            "status": latest.status if latest else "none",
            "step": latest.step_index + 1 if latest else None,
            "waiting_until": waiting.resume_at.isoformat() if waiting and waiting.resume_at else None,
            "clock": scratch.clock.now().isoformat(timespec="minutes"),
        }

    async def _drop_idle(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._open.items() if now - s.used > IDLE_SECONDS]:
            await _close(self._open.pop(key))

    async def close(self) -> None:
        while self._open:
            await _close(self._open.popitem()[1])


async def _runs(db: Database, statuses: tuple[str, ...] | None) -> list[ConversationRun]:
    query = select(ConversationRun).order_by(ConversationRun.id.desc())
    if statuses is not None:
        query = query.where(ConversationRun.status.in_(statuses))
    async with db.sessions() as session:
        return list((await session.execute(query)).scalars())


async def _close(scratch: Scratch) -> None:
    await scratch.db.dispose()
    shutil.rmtree(scratch.folder, ignore_errors=True)
