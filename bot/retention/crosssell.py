"""Cross-sell with restraint: for each rule, the customers who bought A and not B, in its tiers, not offered B
lately, with no open ticket and no recent complaint, get one offer (a flow), queued as proactive work that the
frequency cap counts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config.crosssell import CrosssellRule, CrosssellSettings
from bot.customers.models import ChannelIdentity, Customer
from bot.retention import facts
from bot.retention.checks import CROSSSELL
from bot.retention.kinds import queue_flow
from bot.retention.models import CrosssellOffer

log = logging.getLogger(__name__)
CHUNK = 1000  # offers queued per rule and check; the next check takes the rest


def audience(cfg: CrosssellSettings, rule: CrosssellRule, now: datetime):  # type: ignore[no-untyped-def]
    """The ids of the customers `rule` may offer its product to now."""
    c = Customer
    offered_lately = exists().where(
        CrosssellOffer.customer_id == c.id, CrosssellOffer.product == rule.offer,
        CrosssellOffer.queued_at >= now - timedelta(days=rule.cooldown_days),
    )  # fmt: skip
    query = select(c.id).where(
        c.subscribed.is_(True), c.unreachable.is_(False),
        exists().where(ChannelIdentity.customer_id == c.id),
        facts.bought(c.id, rule.bought), ~facts.bought(c.id, rule.offer),
        ~offered_lately, ~facts.has_open_ticket(c.id),
        ~facts.complained_since(c.id, now - timedelta(days=rule.complaint_days)),
    )  # fmt: skip
    if rule.tiers:
        query = query.where(c.tier.in_(rule.tiers))
    return query.order_by(c.id).limit(CHUNK)


async def plan(session: AsyncSession, cfg: CrosssellSettings, now: datetime) -> int:
    """Queue the offers every rule allows now; how many."""
    queued = 0
    for name, rule in cfg.rules.items():
        for customer_id in list((await session.execute(audience(cfg, rule, now))).scalars()):
            offer = CrosssellOffer(customer_id=customer_id, rule=name, product=rule.offer, queued_at=now)
            session.add(offer)
            await session.flush()
            data = {"offer": offer.id, "rule": name, "product": rule.offer, "text": rule.text}
            await queue_flow(session, program=CROSSSELL, key=str(offer.id), customer_id=customer_id,
                             flow_id=rule.flow, due_at=now, data=data)  # fmt: skip
            queued += 1
    if queued:
        log.info("cross-sell: %d offers queued", queued)
    return queued
