"""The NPS re-survey: a customer whose last answer is N months old is asked again (once per answer), so `reports
nps` shows whether changes paid off."""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config.resurvey import ResurveySettings
from bot.customers.models import Customer
from bot.outbox.models import OutboxItem
from bot.retention.checks import RESURVEY
from bot.retention.kinds import queue_flow
from bot.surveys.models import SurveyResponse

CHUNK = 5000  # customers asked per check; the next check takes the rest


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


async def plan(session: AsyncSession, cfg: ResurveySettings, now: datetime) -> int:
    """Queue the re-survey of every customer whose latest answer is `every_months` old; how many were queued now."""
    latest = (
        select(SurveyResponse.customer_id, func.max(SurveyResponse.id).label("last_id"),
               func.max(SurveyResponse.created_at).label("last_at"))
        .where(SurveyResponse.survey == cfg.survey)
        .group_by(SurveyResponse.customer_id).subquery()
    )  # fmt: skip
    key = literal(f"{RESURVEY}:") + cast(latest.c.customer_id, String) + literal(":") + cast(latest.c.last_id, String)
    query = (
        select(latest.c.customer_id, latest.c.last_id)
        .join(Customer, Customer.id == latest.c.customer_id)
        .where(latest.c.last_at <= months_before(now, cfg.every_months), Customer.subscribed.is_(True),
               ~exists().where(OutboxItem.dedupe_key == key))
        .order_by(latest.c.customer_id).limit(CHUNK)
    )  # fmt: skip
    queued = 0
    for customer_id, last_id in (await session.execute(query)).all():
        queued += await queue_flow(session, program=RESURVEY, key=f"{customer_id}:{last_id}", customer_id=customer_id,
                                   flow_id=cfg.flow, due_at=now, data={"after_response": last_id})  # fmt: skip
    return queued
