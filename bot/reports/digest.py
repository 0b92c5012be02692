"""The weekly digest for the staff: NPS and its change, CSAT per person, SLA breaches, the top complaint categories and
churn reasons of the last seven days, with a link to the console. Queued as one outbox row per week (the week in its
dedupe key, so several instances queue it once) and posted by whatever implements ReportsDesk (Slack)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from bot import outbox
from bot.config import WEEKDAYS, DigestSettings, Settings
from bot.outbox import Claimed, Handler
from bot.ports import Clock
from bot.reports.service import Reports
from bot.reports.span import ReportQuery, percent
from bot.storage.database import Database

log = logging.getLogger(__name__)

WEEKLY_DIGEST = "reports_digest"  # the outbox kind
# A digest not queued within this long after its moment (every instance was down) waits for next week's: a Monday
# digest arriving on Thursday would be read as this week's.
CATCH_UP = timedelta(days=1)
MAX_BREACHES = 10
DIGEST_ATTEMPTS = 60  # like staff notices: it outlasts a long Slack outage


@dataclass(frozen=True)
class Figure:
    """One labelled number of the digest (a person's CSAT, a category's tickets)."""

    label: str
    value: float | None
    count: int


@dataclass(frozen=True)
class WeeklyDigest:
    since: date  # the seven local days covered, both included
    until: date
    nps: float | None
    nps_responses: int
    nps_previous: float | None  # the seven days before
    csat: float | None
    csat_responses: int
    csat_per_person: tuple[Figure, ...]  # value: CSAT %, count: answers
    sla_breaches: int  # tickets opened in the week that missed a deadline
    first_response_pct: float | None
    resolution_pct: float | None
    breaches: tuple[str, ...]  # "C-1042 (first_response)", the first MAX_BREACHES
    complaints: int
    top_categories: tuple[Figure, ...]  # value: share %, count: tickets
    cancellations: int
    churn_reasons: tuple[Figure, ...]  # value: share %, count: cancellations
    console_url: str

    @property
    def nps_change(self) -> float | None:
        if self.nps is None or self.nps_previous is None:
            return None
        return round(self.nps - self.nps_previous, 1)


class ReportsDesk(Protocol):
    """Where the digest is posted (handlers/slack/weekly.py). Raises DeliveryError (bot/ports.py) when unreachable."""

    async def post_digest(self, channel: str, digest: WeeklyDigest) -> None: ...


def latest_moment(settings: DigestSettings, now: datetime, zone: Any) -> datetime:
    """The most recent digest moment at or before `now`: the configured weekday and hour, local time."""
    local = now.astimezone(zone)
    day = local.date() - timedelta(days=(local.weekday() - WEEKDAYS.index(settings.day)) % 7)
    moment = datetime.combine(day, time(settings.hour), tzinfo=zone)
    if moment > local:
        moment = datetime.combine(day - timedelta(days=7), time(settings.hour), tzinfo=zone)
    return moment


class WeeklyDigests:
    def __init__(self, db: Database, settings: Settings, clock: Clock, reports: Reports):
        self.db = db
        self.settings = settings
        self.clock = clock
        self.reports = reports
        self.desk: ReportsDesk | None = None

    def outbox_handlers(self) -> dict[str, Handler]:
        return {WEEKLY_DIGEST: Handler(self._carry_out, max_attempts=DIGEST_ATTEMPTS, available=self._has_desk)}

    def _has_desk(self) -> bool:
        """With Slack configured the row waits for a process that has it (a CLI's drain must not use it up)."""
        return self.desk is not None or self.settings.secrets.slack_bot_token is None

    async def queue_due(self) -> bool:
        """Queue this week's digest once its moment has come (any instance, any number of times: one row per week).
        True when this call queued it."""
        config = self.settings.reports.digest
        if config is None:
            return False
        now = self.clock.now()
        moment = latest_moment(config, now, self.settings.business.zone)
        if now - moment > CATCH_UP:
            return False
        async with self.db.transaction() as session:
            queued = await outbox.enqueue(
                session, kind=WEEKLY_DIGEST, dedupe_key=f"{WEEKLY_DIGEST}:{moment.date().isoformat()}",
                due_at=moment, customer_id=None, payload={"day": moment.date().isoformat()},
            )  # fmt: skip
        if queued:
            log.info("weekly digest of %s queued", moment.date())
        return queued

    async def _carry_out(self, item: Claimed) -> bool:
        config = self.settings.reports.digest
        if config is None:
            log.info("weekly digest %s dropped: reports.digest is no longer configured", item.payload.get("day"))
            return True
        digest = await self.build(date.fromisoformat(str(item.payload["day"])), config.top)
        if self.desk is None:
            log.info("weekly digest %s to %s: NPS %s, CSAT %s, %d SLA breaches (no Slack configured)",
                     digest.since, config.channel, digest.nps, digest.csat, digest.sla_breaches)  # fmt: skip
            return True
        await self.desk.post_digest(config.channel, digest)
        return True

    async def build(self, day: date, top: int = 5) -> WeeklyDigest:
        """The digest posted on `day`: the seven days before it, against the seven before those."""
        week = ReportQuery(since=day - timedelta(days=7), until=day - timedelta(days=1))
        before = ReportQuery(since=day - timedelta(days=14), until=day - timedelta(days=8))
        nps, previous = await self.reports.run("nps", week), await self.reports.run("nps", before)
        csat, sla = await self.reports.run("csat", week), await self.reports.run("sla", week)
        complaints, churn = await self.reports.run("complaints", week), await self.reports.run("churn", week)
        return WeeklyDigest(
            since=week.since, until=week.until,  # type: ignore[arg-type]
            nps=nps.figures["nps"], nps_responses=nps.figures["responses"], nps_previous=previous.figures["nps"],
            csat=csat.figures["csat"], csat_responses=csat.figures["responses"],
            csat_per_person=tuple(Figure(row["name"] or row["staff"], row["csat"], row["responses"])
                                  for row in csat.tables["per_person"]),
            sla_breaches=sla.figures["breached_tickets"], first_response_pct=sla.figures["first_response_pct"],
            resolution_pct=sla.figures["resolution_pct"],
            breaches=tuple(f"{row['ref'] or row['ticket_id']} ({', '.join(row['missed'])})"
                           for row in sla.tables["breaches"][:MAX_BREACHES]),
            complaints=complaints.figures["tickets"],
            top_categories=tuple(Figure(row["category"], row["share"], row["tickets"])
                                 for row in complaints.tables["categories"][:top]),
            cancellations=churn.figures["cancellations"],
            churn_reasons=tuple(Figure(row["reason"], percent(row["cancellations"], churn.figures["cancellations"]),
                                       row["cancellations"]) for row in churn.tables["by_reason"][:top]),
            console_url=f"{self.settings.public_url}/admin/reports?since={week.since}&until={week.until}",
        )  # fmt: skip
