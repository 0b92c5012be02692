"""Every flow version a conversation ran on: found in memory or read back from the database, stored once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow
from bot.conversations.models import CANCELLED, ConversationRun, FlowVersion
from bot.conversations.registry import FlowRegistry
from bot.conversations.turn import Turn
from bot.storage.dialects import insert_for

log = logging.getLogger(__name__)


@dataclass
class FlowVersions:
    """Finds the flow version a run started on and stores each version a run starts on."""

    registry: FlowRegistry
    # Versions stored already, so no query asks for them again.
    _persisted: set[tuple[str, str]] = field(default_factory=set, init=False)

    async def of_run(self, turn: Turn, run: ConversationRun) -> LoadedFlow | None:
        """The exact version a run started on; a run whose version is gone is closed."""
        lf = await self.find(turn.session, run.flow_id, run.flow_version)
        if lf is None or run.step_index >= len(lf.flow.steps):
            log.error("run %s: flow %s version %s is unavailable; closing it", run.id, run.flow_id, run.flow_version)
            run.finish(turn.now, CANCELLED)
            return None
        return lf

    async def asked_step(self, session: AsyncSession, run: ConversationRun, index: int) -> s.AskStep | None:
        """The question at `index` of the run's own version, if that step is a question."""
        lf = await self.find(session, run.flow_id, run.flow_version)
        step = lf.flow.steps[index] if lf is not None and index < len(lf.flow.steps) else None
        return step if isinstance(step, s.AskStep) else None

    async def find(self, session: AsyncSession, flow_id: str, version: str) -> LoadedFlow | None:
        """One version of a flow: in memory, else read back from the database."""
        lf = self.registry.version(flow_id, version)
        if lf is None:
            query = select(FlowVersion).where(FlowVersion.flow_id == flow_id, FlowVersion.version == version)
            stored = (await session.execute(query)).scalar_one_or_none()
            if stored is not None:
                try:
                    lf = self.registry.remember(stored.flow_id, stored.version, stored.source, stored.path)
                except Exception:
                    log.exception("stored version %s of flow %s no longer parses", version, flow_id)
        return lf

    async def store(self, turn: Turn, lf: LoadedFlow) -> None:
        """Keep the source of a version a run starts on, so a restart (or an edit) can still finish the run."""
        key = (lf.id, lf.version)
        if key in self._persisted:
            return
        query = select(FlowVersion.id).where(FlowVersion.flow_id == lf.id, FlowVersion.version == lf.version)
        if (await turn.session.execute(query)).first() is None:
            # ON CONFLICT: two customers starting a new version at the same moment (on two instances) store it once,
            # where a plain INSERT made the second one's whole turn fail on the unique key and be retried.
            await turn.session.execute(insert_for(turn.session)(FlowVersion).values(
                flow_id=lf.id, version=lf.version, path=lf.path, source=lf.source, loaded_at=turn.now,
            ).on_conflict_do_nothing(index_elements=["flow_id", "version"]))  # fmt: skip
        self._persisted.add(key)
