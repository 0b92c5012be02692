"""Campaigns: finding one in the settings, what it says to a customer, and how far an occurrence got.

Who gets it is `audience.py`; turning an occurrence into outbox rows is `planning.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import templating
from bot.config import BusinessSettings, Campaign, OutreachSettings
from bot.conversations import answers
from bot.conversations import schema as s
from bot.conversations.buttons import FlowButton
from bot.conversations.loader import LoadedFlow
from bot.customers.models import Customer
from bot.customers.tiers import condition_view
from bot.messages import Button, Reply
from bot.outbox.models import LEASED, PENDING, OutboxItem
from bot.outreach.models import CampaignRun, DeliveryDecision
from bot.storage.base import utcnow
from bot.storage.database import Database
from bot.yamlsource import did_you_mean


class CampaignError(Exception):
    """A campaign that cannot be used as asked (unknown, disabled, its flow missing): say why."""


def get(campaigns: Mapping[str, Campaign], name: str, *, enabled: bool = False) -> Campaign:
    """The campaign called `name` (of the settings' `campaigns`); with `enabled`, refuse a disabled one (nothing may
    be planned for it)."""
    found = campaigns.get(name)
    if found is None:
        known = ", ".join(sorted(campaigns)) or "none (create one in the console, or under `campaigns:` in config.yaml)"
        raise CampaignError(f"unknown campaign {name!r}{did_you_mean(name, campaigns)}; known: {known}")
    if enabled and not found.enabled:
        raise CampaignError(f"campaign {name!r} is disabled (enabled: false; enable it in the console or config.yaml)")
    return found


def expiry(outreach: OutreachSettings, campaign: Campaign) -> timedelta:
    """How long a message of this campaign stays worth sending after it was due."""
    hours = campaign.expire_after_hours or outreach.expire_after_hours
    return timedelta(hours=hours)


def flow_to_start(campaigns: Mapping[str, Campaign], name: str) -> str | None:
    """The flow a flow campaign starts (the dispatcher calls engine.start_flow_for); None for a message."""
    return get(campaigns, name).flow


def content_problem(campaigns: Mapping[str, Campaign], name: str, known_flows: Collection[str]) -> str | None:
    """What makes the campaign's content unusable (a missing flow, a broken template), else None."""
    campaign = get(campaigns, name)
    wanted = [campaign.flow] if campaign.flow else [button.flow for button in campaign.buttons]
    for flow in wanted:
        if flow not in known_flows:
            return f"campaign {name!r} names flow {flow!r}, which does not exist{did_you_mean(flow, known_flows)}"
    if campaign.message is not None:
        problem = templating.check_template(campaign.message)
        if problem:
            return f"campaign {name!r} message: {problem}"
    if campaign.audience.when:
        problem = templating.check_expression(campaign.audience.when)
        if problem:
            return f"campaign {name!r} audience.when: {problem}"
    return None


def context(
    business: BusinessSettings, name: str, campaign: Campaign, customer: Customer, now: datetime
) -> dict[str, Any]:
    """What the campaign's template (or its flow's first message) sees for this customer."""
    return {
        "customer": condition_view(customer, now, business.zone),
        "business": {"name": business.name},
        "campaign": {"name": name, "title": campaign.title, "kind": campaign.kind},
    }


async def render(
    session: AsyncSession, business: BusinessSettings, name: str, campaign: Campaign, customer: Customer, *,
    now: datetime | None = None, reward: dict[str, Any] | None = None,
) -> list[Reply]:  # fmt: skip
    """The message of a message campaign for this customer; [] for a flow campaign (it starts the flow).

    The template sees `customer` as tier rules and `when` do (with tenure_days, days_inactive,
    lifetime_value), `business.name` and `campaign.name|title|kind`; with a `reward` pool, `reward.code` (the code
    given, or a placeholder in previews)."""
    if campaign.message is None:
        return []
    view = context(business, name, campaign, customer, now or utcnow())
    if campaign.reward:
        view["reward"] = reward or {"pool": campaign.reward, "code": f"<a code of {campaign.reward}>", "given": True}
    text = templating.render(campaign.message, view)
    # Buttons start flows the same way menu buttons do.
    return [Reply(text, tuple(Button(b.label, FlowButton(b.flow).value) for b in campaign.buttons))]


_FIRST_MESSAGE_STEPS = 50  # a flow that says nothing in its first steps gets no preview


def first_message(lf: LoadedFlow, ctx: dict[str, Any]) -> Reply | None:
    """What a flow says first, for previews: its first say, question or closing text, without running it."""
    ctx = {"answers": {}, "ticket": {}, "flow": {"id": lf.id, "title": lf.flow.title}, **ctx}  # as a fresh run
    steps, index = lf.flow.steps, 0
    for _ in range(_FIRST_MESSAGE_STEPS):
        if index >= len(steps):
            return None
        step = steps[index]
        if isinstance(step, s.SayStep):
            return Reply(templating.render(step.say, ctx), tuple(Button(b.label, "") for b in step.buttons))
        if isinstance(step, s.AskStep):
            labels = [label for label, _value in answers.answer_options(step)]
            return Reply(templating.render(step.ask, ctx), tuple(Button(label, "") for label in labels))
        if isinstance(step, s.EndStep):
            return Reply(templating.render(step.end, ctx)) if isinstance(step.end, str) and step.end.strip() else None
        if isinstance(step, s.GotoStep):
            index = lf.index_of(step.goto)
        elif isinstance(step, s.BranchStep):
            target = next((case.goto for case in step.branch if templating.evaluate(case.when, ctx)), step.otherwise)
            index = lf.index_of(target) if target else index + 1
        else:
            nxt = getattr(step, "next", None)
            index = lf.index_of(nxt) if nxt else index + 1
    return None


# ---- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunProgress:
    """One occurrence: its outbox rows by status, and the delivery policy's decisions by verdict and reason."""

    run_id: int
    campaign: str
    occurrence: str
    status: str
    planned: int
    due_at: datetime
    started_at: datetime
    finished_at: datetime | None
    outbox: dict[str, int]
    decisions: dict[tuple[str, str], int]

    @property
    def pending(self) -> int:
        """Rows not carried out yet (waiting, held, or being sent right now)."""
        return self.outbox.get(PENDING, 0) + self.outbox.get(LEASED, 0)

    @property
    def finished(self) -> bool:
        return self.status != "planning" and self.pending == 0


async def progress(db: Database, run_id: int) -> RunProgress:
    async with db.transaction() as session:
        return await progress_in(session, run_id)


async def progress_in(session: AsyncSession, run_id: int) -> RunProgress:
    run = await session.get(CampaignRun, run_id)
    if run is None:
        raise CampaignError(f"no campaign run {run_id}")
    by_status = select(OutboxItem.status, func.count()).where(OutboxItem.campaign_run_id == run_id)
    by_decision = select(DeliveryDecision.decision, DeliveryDecision.reason, func.count()).where(
        DeliveryDecision.campaign_run_id == run_id
    )
    outbox_counts = {status: n for status, n in await session.execute(by_status.group_by(OutboxItem.status))}
    grouped = by_decision.group_by(DeliveryDecision.decision, DeliveryDecision.reason)
    decisions = {(decision, reason): n for decision, reason, n in await session.execute(grouped)}
    return RunProgress(
        run_id=run.id, campaign=run.campaign, occurrence=run.occurrence, status=run.status, planned=run.planned,
        due_at=run.due_at, started_at=run.started_at, finished_at=run.finished_at, outbox=outbox_counts,
        decisions=decisions,
    )  # fmt: skip


async def recent_runs(db: Database, name: str, limit: int = 10, offset: int = 0) -> tuple[list[RunProgress], int]:
    """`limit` occurrences of a campaign from the `offset`-th latest, with their progress, and how many it has."""
    async with db.transaction() as session:
        query = select(CampaignRun.id).where(CampaignRun.campaign == name)
        total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
        ids = list((await session.execute(query.order_by(CampaignRun.id.desc()).limit(limit).offset(offset))).scalars())
        return [await progress_in(session, run_id) for run_id in ids], total
