"""Who a campaign reaches: consent, reachability, tiers, tags, inactivity and recent receipt in SQL;
the admin's `when` condition in Python, a chunk at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, exists, false, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import cast

from bot import templating
from bot.config import Campaign
from bot.customers.models import ChannelIdentity, Customer
from bot.customers.tiers import condition_view
from bot.outbox.models import DONE, LEASED, PENDING, OutboxItem
from bot.outreach.models import SENT, CampaignRun, DeliveryDecision
from bot.storage.dialects import dialect_of

# Why a customer of the campaign's segment is left out, in the order they are checked.
OTHER_TIER = "in another tier"
OPTED_OUT = "opted out"
UNREACHABLE = "unreachable"
NO_IDENTITY = "no chat identity"
RECENTLY_RECEIVED = "received it recently"
NOT_WHEN = "did not match when"
IN_AUDIENCE = ""
UTC_ZONE = ZoneInfo("UTC")
LEFT_OUT_ORDER = (OTHER_TIER, OPTED_OUT, UNREACHABLE, NO_IDENTITY, RECENTLY_RECEIVED, NOT_WHEN)


@dataclass(frozen=True)
class Target:
    """One campaign's audience at one moment, for one occurrence.

    `tiers` narrows the campaign's own audience tiers to an occurrence's: tier names, or "!name" for
    every tier but that one (a "*" schedule entry covers the tiers the schedule does not name).
    """

    name: str
    campaign: Campaign
    now: datetime
    tiers: tuple[str, ...] = ()
    # The occurrence being planned: its own rows are not an earlier receipt.
    run_id: int | None = None
    # The business's time zone, for dates in attributes (customer_since) that carry none.
    zone: ZoneInfo = UTC_ZONE

    def tier_filter(self) -> list[ColumnElement[bool]]:
        wanted = [t for t in self.tiers if not t.startswith("!")]
        unwanted = [t[1:] for t in self.tiers if t.startswith("!")]
        own = list(self.campaign.audience.tiers)
        allowed = [t for t in own if t in wanted] if own and wanted else own or wanted
        filters: list[ColumnElement[bool]] = []
        if (own or wanted) and not allowed:
            filters.append(false())
        elif allowed:
            filters.append(Customer.tier.in_(allowed))
        if unwanted:
            filters.append(Customer.tier.not_in(unwanted))
        return filters

    def segment(self, dialect: str, *, tiers: bool = True) -> list[ColumnElement[bool]]:
        """Tiers, tags and inactivity: whom the campaign is about, before consent and reachability (without the
        tiers: for counting those left out by them)."""
        spec = self.campaign.audience
        filters = self.tier_filter() if tiers else []
        filters += [_has_tag(dialect, tag) for tag in spec.tags]
        if spec.inactive_days is not None:
            last = func.coalesce(Customer.last_active_at, Customer.last_seen_at, Customer.created_at)
            filters.append(last < self.now - timedelta(days=spec.inactive_days))
        return filters

    def received_recently(self, after_id: int | None = None) -> ColumnElement[bool]:
        """An earlier occurrence of this campaign reached the customer, or still may, in repeat_after_days.
        `after_id`: only customers after it are asked about (see `_has_identity`)."""
        if self.campaign.repeat_after_days is None:
            return false()
        since = self.now - timedelta(days=self.campaign.repeat_after_days)
        earlier = select(CampaignRun.id).where(CampaignRun.campaign == self.name)
        if self.run_id is not None:
            earlier = earlier.where(CampaignRun.id != self.run_id)
        sent = exists().where(
            DeliveryDecision.customer_id == Customer.id, DeliveryDecision.decision == SENT,
            DeliveryDecision.created_at >= since, DeliveryDecision.campaign_run_id.in_(earlier),
            *_after(DeliveryDecision.customer_id, after_id),
        )  # fmt: skip
        # Rows the policy skipped (opted out then, expired...) end cancelled and do not count.
        on_its_way = exists().where(
            OutboxItem.customer_id == Customer.id, OutboxItem.campaign_run_id.in_(earlier),
            or_(
                and_(OutboxItem.status.in_((PENDING, LEASED)), OutboxItem.created_at >= since),
                and_(OutboxItem.status == DONE, OutboxItem.finished_at >= since),
            ),
            *_after(OutboxItem.customer_id, after_id),
        )  # fmt: skip
        return or_(sent, on_its_way)

    def reachable(self, after_id: int | None = None) -> list[ColumnElement[bool]]:
        return [
            Customer.subscribed.is_(True), Customer.unreachable.is_(False), _has_identity(after_id),
            ~self.received_recently(after_id),
        ]  # fmt: skip

    def sql_filters(self, dialect: str, after_id: int | None = None) -> list[ColumnElement[bool]]:
        """The audience in SQL; with `after_id`, of the customers after it (a chunk, by customer id)."""
        where = [Customer.id > after_id] if after_id is not None else []
        return where + self.segment(dialect) + self.reachable(after_id)

    def matches(self, customer: Customer) -> bool:
        """The `when` condition, which SQL cannot evaluate (a sandboxed template expression)."""
        when = self.campaign.audience.when
        return when is None or templating.evaluate(when, {"customer": condition_view(customer, self.now, self.zone)})


def _has_identity(after_id: int | None = None) -> ColumnElement[bool]:
    """The customer has a chat. `after_id`: the customers asked about are after it, said again on the chats' side:
    PostgreSQL joins the two in customer order, and without that bound it read the chats from the first customer's
    on for every chunk (at 150,000 customers in, 155,000 index entries to find 5,000: 21 ms a chunk of 5,000, and
    growing with every chunk, where the bound reads 5,000 in 2 ms)."""
    return exists().where(ChannelIdentity.customer_id == Customer.id, *_after(ChannelIdentity.customer_id, after_id))


def _after(customer_id: Any, after_id: int | None) -> list[ColumnElement[bool]]:
    return [customer_id > after_id] if after_id is not None else []


def _has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return cast(Customer.tags, JSONB).contains([tag])
    each = func.json_each(Customer.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


@dataclass(frozen=True)
class Chunk:
    last_id: int | None  # the highest customer id examined: where the next chunk starts
    examined: int
    customer_ids: list[int]  # those in the audience


def next_ids(target: Target, dialect: str, after_id: int, limit: int) -> Select[tuple[int]]:
    """The ids of the next `limit` customers (by id) that SQL admits after `after_id`: the whole audience of the
    chunk when the campaign has no `when`."""
    return select(Customer.id).where(*target.sql_filters(dialect, after_id)).order_by(Customer.id).limit(limit)


async def next_chunk(session: AsyncSession, target: Target, after_id: int, limit: int) -> Chunk:
    """The audience among the next `limit` customers (by id) that SQL admits after `after_id`."""
    if target.campaign.audience.when is None:
        ids = list((await session.execute(next_ids(target, dialect_of(session), after_id, limit))).scalars())
        return Chunk(ids[-1] if ids else None, len(ids), ids)
    where = target.sql_filters(dialect_of(session), after_id)
    rows = list((await session.execute(select(Customer).where(*where).order_by(Customer.id).limit(limit))).scalars())
    return Chunk(rows[-1].id if rows else None, len(rows), [c.id for c in rows if target.matches(c)])


async def count_admitted(session: AsyncSession, target: Target, *, up_to_id: int | None = None) -> int:
    """Customers SQL admits (before `when`): the length of a planning progress bar."""
    query = select(func.count()).select_from(Customer).where(*target.sql_filters(dialect_of(session)))
    if up_to_id is not None:
        query = query.where(Customer.id <= up_to_id)
    return int((await session.execute(query)).scalar_one())


@dataclass(frozen=True)
class Breakdown:
    """The audience per tier, and how many of the campaign's segment are left out and why."""

    per_tier: dict[str, int]
    left_out: dict[str, int]

    @property
    def size(self) -> int:
        return sum(self.per_tier.values())


async def breakdown(session: AsyncSession, target: Target, chunk: int = 5000) -> Breakdown:
    """One grouped query for the SQL part; with a `when`, the admitted customers are walked and checked."""
    received = target.received_recently()
    reason = case(
        (Customer.subscribed.is_(False), OPTED_OUT),
        (Customer.unreachable.is_(True), UNREACHABLE),
        (~_has_identity(), NO_IDENTITY),
        (received, RECENTLY_RECEIVED),
        else_=IN_AUDIENCE,
    )
    query = (
        select(Customer.tier, reason.label("reason"), func.count())
        .where(*target.segment(dialect_of(session)))
        .group_by(Customer.tier, "reason")
    )
    per_tier: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    for tier, why, n in await session.execute(query):
        if why == IN_AUDIENCE:
            per_tier[tier] += n
        else:
            left_out[why] += n
    tier_filter = target.tier_filter()
    if tier_filter:
        others = (
            select(func.count())
            .select_from(Customer)
            .where(*target.segment(dialect_of(session), tiers=False), ~and_(*tier_filter))
        )
        left_out[OTHER_TIER] = int((await session.execute(others)).scalar_one())
    if target.campaign.audience.when is not None:
        per_tier, failed = await _walk_when(session, target, chunk)
        if failed:
            left_out[NOT_WHEN] = failed
    ordered = {why: left_out[why] for why in LEFT_OUT_ORDER if left_out[why]}
    return Breakdown(dict(sorted(per_tier.items())), ordered)


async def _walk_when(session: AsyncSession, target: Target, chunk: int) -> tuple[Counter[str], int]:
    per_tier: Counter[str] = Counter()
    failed, after = 0, 0
    filters = target.sql_filters(dialect_of(session))
    while True:
        query = select(Customer).where(Customer.id > after, *filters).order_by(Customer.id).limit(chunk)
        rows = list((await session.execute(query)).scalars())
        if not rows:
            return per_tier, failed
        for customer in rows:
            if target.matches(customer):
                per_tier[customer.tier] += 1
            else:
                failed += 1
        after = rows[-1].id
        session.expunge_all()  # a preview of a big audience must not keep every row in memory


async def sample(session: AsyncSession, target: Target, size: int) -> Sequence[Customer]:
    """A few customers of the audience, picked at random, to preview the message with."""
    if size <= 0:
        return []
    filters = target.sql_filters(dialect_of(session))
    query = select(Customer).where(*filters).order_by(func.random()).limit(size * 10)
    return [c for c in (await session.execute(query)).scalars() if target.matches(c)][:size]
