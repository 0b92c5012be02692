"""What the delivery policy would do with a campaign sent now, for its preview: how many of its audience would be
held (quiet hours, the frequency cap) or deferred (mid-conversation) rather than sent at once, and why."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.customers.models import Customer
from bot.outreach.campaigns.audience import Target, next_chunk
from bot.outreach.campaigns.kinds import CampaignKind
from bot.outreach.delivery import customer_facts
from bot.outreach.delivery.policy import judge

CHUNK = 500


async def waits_if_sent_now(
    session: AsyncSession, settings: Settings, target: Target, limit: int = 5000
) -> tuple[Counter[str], int]:
    """Among the first `limit` customers of the audience: how many the policy would not send at once, by reason
    (its reason without the times: "quiet hours", "frequency cap (3 in 7 days)"), and how many were judged."""
    waiting: Counter[str] = Counter()
    judged, after = 0, 0
    cap = settings.outreach.frequency_cap
    while judged < limit:
        chunk = await next_chunk(session, target, after, min(CHUNK, limit - judged))
        if chunk.last_id is None:
            break
        after = chunk.last_id
        ids = chunk.customer_ids
        facts = await customer_facts.read(session, ids, target.now, cap)
        customers = {c.id: c for c in (await session.execute(select(Customer).where(Customer.id.in_(ids)))).scalars()}
        for customer_id in ids:
            customer, known = customers.get(customer_id), facts.get(customer_id)
            verdict = judge(settings.outreach, settings.business.zone, kind=CampaignKind.CAMPAIGN,
                            customer=customer, facts=known, now=target.now)  # fmt: skip
            if not verdict.go:
                waiting[_without_times(verdict.reason)] += 1
        judged += len(ids)
        session.expunge_all()
    return waiting, judged


def _without_times(reason: str) -> str:
    # "quiet hours (22:10 in Europe/Lisbon)" counts as one reason; the cap's "(3 in 7 days)" says what the cap is.
    return reason.split(" (")[0] if reason.startswith("quiet hours") else reason
