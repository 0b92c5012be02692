"""What the console does with campaigns: checking a draft with the config loader's checks (each problem at its field),
saving it as the next version in the campaign store (or retiring it), and the versions. Every change is a version
and a line in the audit log; this instance puts it in force at once, the others within a poll (Core.poll_saved).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import templating
from bot.admin import audit
from bot.config import Campaign, Settings, unknown_pool, unknown_tier
from bot.config.section import KEY_PATTERN
from bot.conversations.registry import FlowRegistry
from bot.outreach.campaigns.actions import CampaignActions, CampaignPreview
from bot.outreach.campaigns.audience import Target
from bot.outreach.campaigns.store import CampaignStore, SavedCampaign, StaleCampaign
from bot.outreach.delivery.forecast import waits_if_sent_now
from bot.ports import Clock
from bot.storage.database import Database
from bot.yamlsource import did_you_mean

# A field of the campaign form; the page shows each problem next to its field ("" for the form as a whole).
Problems = dict[str, str]


class CampaignRefused(Exception):
    """A draft that cannot be saved, with its problems by field."""

    def __init__(self, message: str, problems: Problems | None = None):
        super().__init__(message)
        self.problems = problems or {}


@dataclass(frozen=True)
class CampaignRow:
    name: str
    campaign: Campaign
    version: int | None
    changed_at: datetime | None
    changed_by: str | None


def _field_of(loc: tuple[Any, ...], message: str) -> str:
    """The form field a pydantic error belongs to: its first key (two under audience: audience.tiers), or for the
    checks over the whole campaign, the field the message is about."""
    if loc:
        return f"audience.{loc[1]}" if loc[0] == "audience" and len(loc) > 1 else str(loc[0])
    if message.startswith("schedule"):
        return "schedule"
    if message.startswith("at "):
        return "at"
    if message.startswith("reward"):
        return "reward"
    return "message"


def check(settings: Settings, flows: FlowRegistry, data: Mapping[str, Any]) -> tuple[Campaign | None, Problems]:
    """The draft checked as config.yaml's campaigns are (the model, then the tiers the rules give), and as a send
    checks it (the flows it names exist, the template and the condition compile)."""
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        problems: Problems = {}
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.setdefault(_field_of(tuple(err["loc"]), message), message)
        return None, problems
    problems = {}
    for tier in campaign.audience.tiers:
        problem = unknown_tier(settings, tier)
        if problem:
            problems.setdefault("audience.tiers", problem)
    for tier in campaign.schedule:
        problem = unknown_tier(settings, tier) if tier != "*" else None
        if problem:
            problems.setdefault("schedule", f"schedule: {problem}")
    known = [lf.id for lf in flows.all()]
    for where, flow in [("flow", campaign.flow)] + [("buttons", b.flow) for b in campaign.buttons]:
        if flow is not None and flow not in known:
            problems.setdefault(where, f'there is no flow "{flow}"{did_you_mean(flow, known)}')
    problem = unknown_pool(settings, campaign.reward) if campaign.reward else None
    if problem:
        problems["reward"] = problem
    if campaign.message is not None:
        problem = templating.check_template(campaign.message)
        if problem:
            problems["message"] = problem
    if campaign.audience.when:
        problem = templating.check_expression(campaign.audience.when)
        if problem:
            problems["audience.when"] = problem
    return (None if problems else campaign), problems


@dataclass(frozen=True)
class AudiencePreview:
    """Who is in and who is left out and why, rendered samples, and who of the audience would wait if it were sent
    now (quiet hours, the frequency cap, mid-conversation), of the first `judged` customers."""

    shown: CampaignPreview
    waiting: dict[str, int]
    judged: int


class CampaignConsole:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        flows: FlowRegistry,
        store: CampaignStore,
        actions: CampaignActions,
        clock: Clock,
        reload: Callable[[], Awaitable[object]],
    ):
        self.db = db
        self.actions = actions
        self.clock = clock
        self.settings = settings
        self.flows = flows
        self.store = store
        self.reload = reload  # puts the store's campaigns in force here (Core.load_campaigns)

    async def rows(self) -> list[CampaignRow]:
        heads = await self.store.heads()
        rows = []
        for name, campaign in sorted(self.settings.campaigns.items()):
            head = heads.get(name)
            rows.append(CampaignRow(name, campaign, head.number if head else None, head.saved_at if head else None,
                                    head.author if head else None))  # fmt: skip
        return rows

    async def preview(self, name: str, samples: int, draft: Campaign | None = None) -> AudiencePreview:
        """The campaign in force (or the unsaved `draft`, checked already) as its audience would get it now."""
        shown = await self.actions.preview(name, samples, draft)
        campaign = draft or self.settings.campaigns[name]
        target = Target(name, campaign, self.clock.now(), zone=self.settings.business.zone)
        async with self.db.transaction() as session:
            waiting, judged = await waits_if_sent_now(session, self.settings, target)
        return AudiencePreview(shown, dict(waiting.most_common()), judged)

    async def head(self, name: str) -> SavedCampaign | None:
        return (await self.store.heads()).get(name)

    async def history(self, name: str) -> list[SavedCampaign]:
        return await self.store.history(name)

    def check(self, data: Mapping[str, Any]) -> tuple[Campaign | None, Problems]:
        return check(self.settings, self.flows, data)

    async def save(
        self, name: str, data: Mapping[str, Any], *, author: str, expected_head: int, creating: bool = False
    ) -> SavedCampaign:
        """Check and save a draft as the campaign's next version; CampaignRefused with its problems when it is not
        valid. `expected_head` is the version the editor started from (0 for a new campaign)."""
        if creating:
            heads = await self.store.heads()
            problem = _name_problem(name, heads)
            if problem:
                raise CampaignRefused(problem, {"name": problem})
            expected_head = heads[name].number if name in heads else 0  # a retired name starts again
        campaign, problems = self.check(data)
        if campaign is None:
            raise CampaignRefused("the campaign has problems: fix them before saving", problems)
        current = self.settings.campaigns.get(name)
        if not creating and current == campaign:
            raise CampaignRefused("nothing changed: this is the version in force")
        action = "campaign created" if creating else "campaign saved"
        return await self._save(name, campaign, author, action, expected_head)

    async def retire(self, name: str, *, author: str, expected_head: int) -> SavedCampaign:
        """Remove the campaign from every instance (its versions and sends stay, for the record)."""
        if name not in self.settings.campaigns:
            raise CampaignRefused(f"there is no campaign {name!r} in force")
        return await self._save(name, None, author, "campaign retired", expected_head)

    async def _save(
        self, name: str, campaign: Campaign | None, author: str, action: str, expected_head: int
    ) -> SavedCampaign:
        async def log(session: AsyncSession, at: datetime) -> None:
            audit.record(session, at, author, action, f"campaign:{name}", f"version {expected_head + 1}")

        try:
            saved = await self.store.save(name, campaign, author=author, expected_head=expected_head, also=log)
        except StaleCampaign as exc:
            raise CampaignRefused(str(exc)) from None
        await self.reload()
        return saved


def _name_problem(name: str, heads: Mapping[str, SavedCampaign]) -> str | None:
    if not re.fullmatch(KEY_PATTERN, name) or len(name) > 100:
        return "a campaign name is lower case letters, digits, _ and -, starting with a letter (e.g. spring_tips)"
    head = heads.get(name)
    if head is not None and not head.retired:
        return f'a campaign "{name}" exists already'
    return None
