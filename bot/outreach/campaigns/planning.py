"""Turning a campaign occurrence into outbox rows (one per customer, resumable, safe to run twice),
and finding the scheduled occurrences that are due.

An occurrence is a `CampaignRun`, unique per campaign and occurrence key. Planning walks the audience
by customer id in chunks; each chunk's rows and the run's cursor are written in one transaction, so a
crash resumes after the last chunk and a second run (or a second instance) adds nothing. The rows'
dedupe keys (`campaign:<run>:<customer>`) make that hold even when two planners overlap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import Float, String, cast, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import crontab
from bot.config import Campaign, Settings
from bot.customers.models import Customer
from bot.outbox.models import PENDING, OutboxItem
from bot.outreach.campaigns import catalog
from bot.outreach.campaigns.audience import Chunk, Target, count_admitted, next_chunk, next_ids
from bot.outreach.campaigns.kinds import CampaignKind
from bot.outreach.models import CampaignRun
from bot.storage.database import Database
from bot.storage.dialects import insert_for

log = logging.getLogger(__name__)

PLANNING = "planning"
PLANNED = "planned"
CANCELLED = "cancelled"
MANUAL = "manual"
ONCE = "once"
EVERY_OTHER_TIER = "*"
CHUNK = 5000
# A chunk of the PostgreSQL path is one statement, its rows never in Python: bigger, fewer transactions (about 0.25 s
# each, holding the run's lock); a chunk of 5,000 spent about 6% of its time on BEGIN, the run's lock and update, and
# the COMMIT.
SQL_CHUNK = 20_000

# Called after each chunk is committed: (customers examined so far, customers to examine).
ProgressCallback = Callable[[int, int], object]


@dataclass(frozen=True)
class PlanResult:
    run_id: int
    campaign: str
    occurrence: str
    planned: int  # the occurrence's rows in all
    added: int  # rows this call added
    already_planned: bool  # complete before this call: nothing was done


async def plan(
    db: Database, settings: Settings, name: str, occurrence: str, *, due_at: datetime, now: datetime,
    tiers: tuple[str, ...] = (), progress: ProgressCallback | None = None, chunk: int | None = None,
) -> PlanResult:  # fmt: skip
    """Create (or resume) the occurrence and queue one outbox row per customer of its audience.

    `tiers` narrows the campaign's audience for this occurrence (names, or "!name" for all but that one);
    a resumed occurrence keeps the tiers it was created with. `chunk`: customers examined per transaction
    (CHUNK, or SQL_CHUNK where SQL alone queues them). Raises CampaignError for an unknown or disabled campaign.
    """
    campaign = catalog.get(settings.campaigns, name, enabled=True)
    async with db.transaction() as session:
        run = await _open_run(session, name, occurrence, tiers, due_at, now)
        if run.status != PLANNING:
            return PlanResult(run.id, name, occurrence, run.planned, 0, already_planned=True)
        target = Target(name, campaign, now, tuple(run.tiers), run.id, settings.business.zone)
        total = done = 0
        if progress is not None:  # the length of a progress bar: a scan of the audience nobody reads otherwise
            total = await count_admitted(session, target)
            done = await count_admitted(session, target, up_to_id=run.cursor) if run.cursor else 0
    in_sql = db.is_postgres and campaign.audience.when is None
    chunk = chunk or (SQL_CHUNK if in_sql else CHUNK)
    added, planned = 0, run.planned
    while True:
        async with db.transaction() as session:
            run = await _locked(session, run.id)
            if run.status != PLANNING:  # another planner finished it meanwhile
                planned = run.planned
                break
            pace = settings.telegram.max_per_second * settings.outreach.broadcast_share
            if in_sql:
                found, inserted = await _queue_in_sql(session, run, target, chunk, now, pace)
            else:
                found = await next_chunk(session, target, run.cursor, chunk)
                inserted = await _queue(session, run, found.customer_ids, now, pace) if found.customer_ids else 0
            run.planned += inserted
            if found.last_id is not None:
                run.cursor = found.last_id
            if found.examined < chunk:
                run.status, run.finished_at = PLANNED, now
            planned, finished = run.planned, run.status == PLANNED
        added += inserted
        done += found.examined
        if progress is not None and found.examined:
            progress(min(done, total), total)
        if finished:
            break
    log.info("campaign %s %s planned: %d messages (%d added now)", name, occurrence, planned, added)
    return PlanResult(run.id, name, occurrence, planned, added, already_planned=False)


async def _open_run(
    session: AsyncSession, name: str, occurrence: str, tiers: tuple[str, ...], due_at: datetime, now: datetime
) -> CampaignRun:
    values = dict(
        campaign=name, occurrence=occurrence, tiers=list(tiers), status=PLANNING, cursor=0, planned=0,
        due_at=due_at, started_at=now,
    )  # fmt: skip
    stmt = insert_for(session)(CampaignRun).values(**values)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["campaign", "occurrence"]))
    query = select(CampaignRun).where(CampaignRun.campaign == name, CampaignRun.occurrence == occurrence)
    return (await session.execute(query)).scalar_one()


async def _locked(session: AsyncSession, run_id: int) -> CampaignRun:
    """The run, locked for this chunk (PostgreSQL; SQLite transactions already hold the write lock)."""
    query = select(CampaignRun).where(CampaignRun.id == run_id).with_for_update()
    return (await session.execute(query)).scalar_one()


async def _queue(session: AsyncSession, run: CampaignRun, customer_ids: list[int], now: datetime, pace: float) -> int:
    """One outbox row per customer; rows that exist already (same dedupe key) are left as they are.

    Due times are spread at `pace` per second (the proactive send rate) from the occurrence's moment:
    the outbox is claimed in due order, so a reply or ticket update queued during a big campaign
    waits behind the messages due before it, not behind the whole campaign."""
    table = OutboxItem.__table__
    common = dict(
        kind=CampaignKind.CAMPAIGN, payload={"campaign": run.campaign}, campaign_run_id=run.id, proactive=True,
        status=PENDING, attempts=0, created_at=now,
    )  # fmt: skip
    rows = [
        {**common, "customer_id": c, "dedupe_key": f"campaign:{run.id}:{c}",
         "due_at": run.due_at + timedelta(seconds=(run.planned + n) / pace)}
        for n, c in enumerate(customer_ids)
    ]  # fmt: skip
    stmt = insert_for(session)(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    return len((await session.execute(stmt, rows)).all())


async def _queue_in_sql(
    session: AsyncSession, run: CampaignRun, target: Target, limit: int, now: datetime, pace: float
) -> tuple[Chunk, int]:
    """`next_chunk` and `_queue` in one statement on PostgreSQL, for an audience SQL decides alone (no `when`): the
    rows are made where the customers are, not sent over as parameters one by one (5x a bare INSERT ... SELECT at
    200,000 customers, most of it binding and ORM work per row). Same rows, keys and due times as `_queue`."""
    table = OutboxItem.__table__
    chunk = next_ids(target, "postgresql", run.cursor, limit).add_columns(
        func.row_number().over(order_by=Customer.id).label("n")
    ).cte("chunk")  # fmt: skip
    # Spread like _queue: the n-th customer of the chunk (from 1) goes (planned + n - 1) / pace seconds after due_at.
    seconds = cast(literal(run.planned) + chunk.c.n - 1, Float) / literal(pace, Float)
    values = select(
        literal(CampaignKind.CAMPAIGN, String), chunk.c.id, literal(f"campaign:{run.id}:") + cast(chunk.c.id, String),
        literal({"campaign": run.campaign}, table.c.payload.type), literal(run.id), literal(True), literal(PENDING),
        literal(0), literal(now, table.c.created_at.type),
        literal(run.due_at, table.c.due_at.type) + func.make_interval(0, 0, 0, 0, 0, 0, seconds),
    )  # fmt: skip
    columns = ["kind", "customer_id", "dedupe_key", "payload", "campaign_run_id", "proactive", "status", "attempts",
               "created_at", "due_at"]  # fmt: skip
    insert = pg_insert(table).from_select(columns, values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    added = insert.returning(table.c.id).cte("added")
    query = select(
        select(func.count()).select_from(chunk).scalar_subquery(),
        select(func.max(chunk.c.id)).scalar_subquery(),
        select(func.count()).select_from(added).scalar_subquery(),
    )
    examined, last_id, inserted = (await session.execute(query)).one()
    return Chunk(last_id, examined, []), inserted


# ---- schedules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """A moment a campaign is due for some tiers: a schedule entry firing, or a one-off `at`."""

    campaign: str
    entry: str  # the schedule key (a tier, or "*"), or "once"
    tiers: tuple[str, ...]
    at: datetime

    @property
    def key(self) -> str:
        return f"{self.entry}@{self.at.astimezone(UTC).isoformat()}"


def manual_occurrence(business_zone: tzinfo, now: datetime) -> str:
    """A send by hand is one occurrence per business day: sending again the same day adds nothing."""
    return f"{MANUAL}@{now.astimezone(business_zone).date().isoformat()}"


async def occurrence_to_send(db: Database, business_zone: tzinfo, name: str, now: datetime) -> str:
    """The key a send by hand plans: an interrupted manual send of this campaign is finished first
    (a new day's key would queue its customers again), else today's (a day in `business_zone`)."""
    async with db.transaction() as session:
        query = select(CampaignRun.occurrence).where(
            CampaignRun.campaign == name, CampaignRun.status == PLANNING,
            CampaignRun.occurrence.startswith(f"{MANUAL}@"),
        )  # fmt: skip
        unfinished = (await session.execute(query.order_by(CampaignRun.id.desc()).limit(1))).scalar_one_or_none()
    return unfinished or manual_occurrence(business_zone, now)


def schedule_entries(campaign: Campaign) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(entry, cron, tiers) per schedule line; "*" covers every tier the schedule does not name."""
    named = tuple(f"!{tier}" for tier in campaign.schedule if tier != EVERY_OTHER_TIER)
    for entry, expression in campaign.schedule.items():
        yield entry, expression, named if entry == EVERY_OTHER_TIER else (entry,)


def due_occurrences(settings: Settings, now: datetime, last: Mapping[tuple[str, str], datetime]) -> list[Occurrence]:
    """For each enabled campaign's schedule entry, the latest occurrence since the entry's last one
    (`last`: campaign and entry -> due time). Missed occurrences are coalesced into that latest one,
    and none is older than the campaign's expiry: a fresh install or a long outage replays nothing stale."""
    zone = settings.business.zone
    due: list[Occurrence] = []
    for name, campaign in settings.campaigns.items():
        if not campaign.enabled:
            continue
        oldest = now - catalog.expiry(settings.outreach, campaign)
        for entry, expression, tiers in schedule_entries(campaign):
            previous = last.get((name, entry))
            at = crontab.latest_between(expression, zone, max(previous, oldest) if previous else oldest, now)
            if at is not None:
                due.append(Occurrence(name, entry, tiers, at))
        previous = last.get((name, ONCE))
        if campaign.at is not None and oldest < campaign.at <= now and (previous is None or previous < campaign.at):
            due.append(Occurrence(name, ONCE, (), campaign.at))
    return due


def next_runs(settings: Settings, now: datetime) -> list[Occurrence]:
    """The next occurrence of every schedule entry and one-off (for `campaigns list`)."""
    zone = settings.business.zone
    upcoming: list[Occurrence] = []
    for name, campaign in settings.campaigns.items():
        for entry, expression, tiers in schedule_entries(campaign):
            at = crontab.next_after(expression, zone, now)
            if at is not None:
                upcoming.append(Occurrence(name, entry, tiers, at))
        if campaign.at is not None and campaign.at > now:
            upcoming.append(Occurrence(name, ONCE, (), campaign.at))
    return upcoming


async def plan_due(db: Database, settings: Settings, now: datetime) -> list[PlanResult]:
    """Resume interrupted plannings, then plan every scheduled occurrence that is due. For the leader.

    One campaign that fails (logged) does not keep the others from being planned."""
    results: list[PlanResult] = []
    resume, last = await _runs_in_window(db, settings, now)
    wanted = [(run.campaign, run.occurrence, tuple(run.tiers), run.due_at) for run in resume]
    wanted += [(o.campaign, o.key, o.tiers, o.at) for o in due_occurrences(settings, now, last)]
    for name, occurrence, tiers, due_at in wanted:
        try:
            result = await plan(db, settings, name, occurrence, tiers=tiers, due_at=due_at, now=now)
        except Exception:
            log.exception("planning campaign %s %s failed; it is tried again at the next tick", name, occurrence)
            continue
        if not result.already_planned:
            results.append(result)
    return results


async def _runs_in_window(
    db: Database, settings: Settings, now: datetime
) -> tuple[list[CampaignRun], dict[tuple[str, str], datetime]]:
    """Interrupted plannings of enabled campaigns to resume, and each schedule entry's last due time.

    Only runs within the longest expiry matter for the schedule (older ones could not be planned again
    anyway). An interrupted planning older than its campaign's expiry is cancelled: every message of it
    would expire unsent."""
    enabled = {name: c for name, c in settings.campaigns.items() if c.enabled}
    if not enabled:
        return [], {}
    horizon = now - max(catalog.expiry(settings.outreach, c) for c in enabled.values())
    resume: list[CampaignRun] = []
    last: dict[tuple[str, str], datetime] = {}
    async with db.transaction() as session:
        recent = CampaignRun.campaign.in_(enabled) & (CampaignRun.due_at >= horizon)
        query = select(CampaignRun).where(recent | (CampaignRun.status == PLANNING))
        for run in (await session.execute(query)).scalars():
            campaign = enabled.get(run.campaign)
            if campaign is None:
                continue  # disabled or removed: its interrupted planning waits until it is enabled again
            if run.status == PLANNING:
                if run.due_at < now - catalog.expiry(settings.outreach, campaign):
                    run.status, run.finished_at = CANCELLED, now
                    log.warning("campaign %s %s was never fully planned and is too old now; cancelled",
                                run.campaign, run.occurrence)  # fmt: skip
                else:
                    resume.append(run)
            entry = run.occurrence.split("@", 1)[0]
            if entry != MANUAL:
                last[(run.campaign, entry)] = max(last.get((run.campaign, entry), run.due_at), run.due_at)
    return resume, last
