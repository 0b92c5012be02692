"""The delivery policy: whether a proactive message may go out now, wait, or not go at all.

Applied by the dispatcher to every proactive outbox row (check-ins, reminders, event-started flows,
campaign messages) right before it is carried out, with the customer's row locked, so the facts it
reads (consent, last messages, the cap's count) are current on every instance. Transactional work
(replies, ticket updates) never passes through here. Every verdict is recorded in
`delivery_decisions` with its reason: holds and skips for the audit trail, sends because the
frequency cap counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import QuietHours, Settings
from bot.conversations import activity
from bot.customers.models import ChannelIdentity, Customer
from bot.outreach.models import DEFERRED, HELD, SENT, SKIPPED, DeliveryDecision

# Kinds the frequency cap holds. Check-ins and their reminders count toward it but are paced by
# the flow the customer agreed to ("Can I check in with you?"), so the cap never pushes them back.
CAPPED_KINDS = frozenset({"campaign", "event", "start_flow"})


@dataclass(frozen=True)
class Verdict:
    decision: str  # sent | held | deferred | skipped
    reason: str
    until: datetime | None = None

    @property
    def go(self) -> bool:
        return self.decision == SENT


def customer_zone(customer: Customer, settings: Settings) -> tzinfo:
    """The customer's own time zone, else the business's."""
    for name in (customer.timezone, settings.business.timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, zone: tzinfo, quiet: QuietHours) -> datetime | None:
    """When the quiet window around `now` ends (UTC), or None when it is not quiet.

    Computed on the local wall clock and converted back, so a DST change inside the night moves
    the UTC moment, not the local opening time.
    """
    local = now.astimezone(zone)
    start, end = _hhmm(quiet.start), _hhmm(quiet.end)
    wall = local.time().replace(tzinfo=None)
    spans_midnight = start > end
    quiet_now = (wall >= start or wall < end) if spans_midnight else (start <= wall < end)
    if not quiet_now:
        return None
    opening_day = local.date()
    if spans_midnight and wall >= start:
        opening_day += timedelta(days=1)
    opening = datetime.combine(opening_day, end, tzinfo=zone)
    # A local time that does not exist (spring forward) resolves past the gap once normalised to UTC.
    return opening.astimezone(UTC)


async def judge(
    session: AsyncSession, settings: Settings, *, kind: str, customer: Customer | None, now: datetime,
    expires_at: datetime | None = None,
) -> Verdict:  # fmt: skip
    """The verdict for one proactive row of `kind` for this (locked) customer, in the order a person
    would ask: may we at all, is it still worth sending, is it a decent hour, are they busy, too many?"""
    cfg = settings.outreach
    if customer is None:
        return Verdict(SKIPPED, "customer no longer exists")
    if not customer.subscribed:
        return Verdict(SKIPPED, "opted out")
    if customer.unreachable:
        return Verdict(SKIPPED, "unreachable (the channel refused the last message)")
    if not await _has_identity(session, customer.id):
        return Verdict(SKIPPED, "no chat identity (never wrote to the bot)")
    if expires_at is not None and now >= expires_at:
        return Verdict(SKIPPED, "expired: held past its expiry")
    if cfg.quiet_hours is not None:
        zone = customer_zone(customer, settings)
        opening = quiet_until(now, zone, cfg.quiet_hours)
        if opening is not None:
            if expires_at is not None and opening >= expires_at:
                return Verdict(SKIPPED, "expired: quiet hours last past its expiry")
            local = now.astimezone(zone).strftime("%H:%M")
            return Verdict(HELD, f"quiet hours ({local} in {zone})", opening)
    if await activity.mid_conversation(session, customer.id, now):
        return Verdict(DEFERRED, "customer mid-conversation", now + timedelta(minutes=cfg.defer_minutes))
    cap = cfg.frequency_cap
    if cap is not None and kind in CAPPED_KINDS:
        window = timedelta(days=cap.window_days)
        sent = await _recent_sends(session, customer.id, now - window, cap.max_messages)
        if len(sent) >= cap.max_messages:
            # Held until the oldest send in the window drops out of it.
            until = sent[-1] + window
            return Verdict(HELD, f"frequency cap ({cap.max_messages} in {cap.window_days:g} days)", until)
    return Verdict(SENT, "allowed")


async def record(
    session: AsyncSession, verdict: Verdict, *, outbox_id: int | None, customer_id: int | None, kind: str,
    campaign_run_id: int | None, now: datetime,
) -> DeliveryDecision:  # fmt: skip
    decision = DeliveryDecision(
        outbox_id=outbox_id, customer_id=customer_id, campaign_run_id=campaign_run_id, kind=kind,
        decision=verdict.decision, reason=verdict.reason[:200], until=verdict.until, created_at=now,
    )  # fmt: skip
    session.add(decision)
    await session.flush()
    return decision


async def _has_identity(session: AsyncSession, customer_id: int) -> bool:
    query = select(ChannelIdentity.id).where(ChannelIdentity.customer_id == customer_id).limit(1)
    return (await session.execute(query)).first() is not None


async def _recent_sends(session: AsyncSession, customer_id: int, since: datetime, limit: int) -> list[datetime]:
    """The newest `limit` proactive sends since `since`, newest first (the last is the oldest that counts)."""
    query = (
        select(DeliveryDecision.created_at)
        .where(
            DeliveryDecision.customer_id == customer_id,
            DeliveryDecision.decision == SENT,
            DeliveryDecision.created_at > since,
        )
        .order_by(DeliveryDecision.created_at.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
