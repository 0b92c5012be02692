"""What adapters (the CLI) do with campaigns: preview one, send one, follow its occurrences. Each call owns its
transactions; a refusal (unknown or disabled campaign, unusable content) is a CampaignError saying why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import Campaign, Settings
from bot.conversations.registry import FlowRegistry
from bot.customers.models import Customer
from bot.messages import Reply
from bot.outreach.campaigns import catalog
from bot.outreach.campaigns.audience import Breakdown, Target, breakdown, sample
from bot.outreach.campaigns.catalog import CampaignError, RunProgress
from bot.outreach.campaigns.planning import PlanResult, ProgressCallback, occurrence_to_send, plan
from bot.ports import Clock
from bot.storage.database import Database


@dataclass(frozen=True)
class PreviewSample:
    """One customer of the audience and what they would get (a flow campaign: its first message)."""

    customer_id: int
    display_name: str | None
    tier: str
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class CampaignPreview:
    audience: Breakdown  # who it would reach now, per tier, and who is left out and why
    samples: list[PreviewSample]


class CampaignActions:
    def __init__(self, db: Database, settings: Settings, registry: FlowRegistry, clock: Clock):
        self.db = db
        self.settings = settings
        self.registry = registry
        self.clock = clock

    def _usable(self, name: str, *, enabled: bool = False) -> None:
        """Raise CampaignError when the campaign is unknown (or disabled, with `enabled`) or its content unusable."""
        catalog.get(self.settings.campaigns, name, enabled=enabled)
        problem = catalog.content_problem(self.settings.campaigns, name, [lf.id for lf in self.registry.all()])
        if problem:
            raise CampaignError(problem)

    async def preview(self, name: str, size: int, draft: Campaign | None = None) -> CampaignPreview:
        """The audience the campaign would reach now, and what `size` of its customers would get; of `draft` instead
        of the campaign in force when given (the console's preview of an unsaved edit, checked by the caller)."""
        if draft is None:
            self._usable(name)
        campaign = draft or self.settings.campaigns[name]
        now = self.clock.now()
        async with self.db.transaction() as session:
            target = Target(name, campaign, now, zone=self.settings.business.zone)
            found = await breakdown(session, target)
            samples = []
            for customer in await sample(session, target, size):
                if campaign.flow:
                    replies = self._first_message(campaign, name, customer, now)
                else:
                    replies = await catalog.render(session, self.settings.business, name, campaign, customer, now=now)
                samples.append(PreviewSample(customer.id, customer.display_name, customer.tier, tuple(replies)))
        return CampaignPreview(found, samples)

    def _first_message(self, campaign: Campaign, name: str, customer: Customer, now: datetime) -> list[Reply]:
        lf = self.registry.current(campaign.flow or "")
        if lf is None:
            return []
        context = catalog.context(self.settings.business, name, campaign, customer, now)
        first = catalog.first_message(lf, context)
        return [first] if first else []

    async def occurrence_to_send(self, name: str) -> str:
        """The occurrence a send by hand plans: an unfinished manual send of the campaign, else today's."""
        return await occurrence_to_send(self.db, self.settings.business.zone, name, self.clock.now())

    async def send(
        self, name: str, occurrence: str | None = None, progress: ProgressCallback | None = None
    ) -> PlanResult:
        """Queue the campaign for its audience now, as `occurrence` (default: `occurrence_to_send`). Safe to call
        twice: an occurrence is planned once."""
        self._usable(name, enabled=True)
        now = self.clock.now()
        key = occurrence or await occurrence_to_send(self.db, self.settings.business.zone, name, now)
        return await plan(self.db, self.settings, name, key, due_at=now, now=now, progress=progress)

    async def progress(self, run_id: int) -> RunProgress:
        return await catalog.progress(self.db, run_id)

    async def recent_runs(self, name: str, limit: int, offset: int = 0) -> tuple[list[RunProgress], int]:
        """`limit` occurrences of the campaign from the `offset`-th latest, and how many it has had."""
        catalog.get(self.settings.campaigns, name)
        return await catalog.recent_runs(self.db, name, limit, offset)
