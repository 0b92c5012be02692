"""The delivery policy: whether a proactive message may go out now, wait, or not go at all.

Applied by the dispatcher to every proactive outbox row (check-ins, reminders, event-started flows,
campaign messages) right before it is carried out, with the customer's row locked, so the facts it
reads (consent, last messages, the cap's count) are current on every instance. Transactional work
(replies, ticket updates) never passes through here. Every verdict is recorded in
`delivery_decisions` with its reason: holds and skips for the audit trail, sends because the
frequency cap counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import OutreachSettings, QuietHours
from bot.conversations.kinds import ConversationKind
from bot.customers.kinds import CustomerKind
from bot.customers.models import Customer
from bot.outreach.campaigns.kinds import CampaignKind
from bot.outreach.delivery.customer_facts import Facts
from bot.outreach.models import DEFERRED, HELD, SENT, SKIPPED, DeliveryDecision
from bot.retention.kinds import RetentionKind

# Kinds the frequency cap holds. Check-ins and their reminders count toward it but are paced by
# the flow the customer agreed to ("Can I check in with you?"), so the cap never pushes them back.
CAPPED_KINDS = frozenset({CampaignKind.CAMPAIGN, CustomerKind.EVENT, ConversationKind.START_FLOW, RetentionKind.FLOW})


@dataclass(frozen=True)
class Verdict:
    decision: str  # sent | held | deferred | skipped
    reason: str
    until: datetime | None = None

    @property
    def go(self) -> bool:
        return self.decision == SENT


def customer_zone(customer: Customer, business_zone: tzinfo) -> tzinfo:
    """The customer's own time zone, else the business's."""
    if customer.timezone:
        try:
            return ZoneInfo(customer.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # stored before time zones were checked: the business's is the best guess
    return business_zone


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


def quiet_hours_note(outreach: OutreachSettings, business_zone: tzinfo, now: datetime) -> str | None:
    """Why and until when proactive messages sent now would be held by quiet hours, in the business's time zone (for
    the CLI, before and while a campaign is sent), or None when it is not quiet there."""
    quiet = outreach.quiet_hours
    opening = quiet_until(now, business_zone, quiet) if quiet is not None else None
    if quiet is None or opening is None:
        return None
    local, opens = now.astimezone(business_zone), opening.astimezone(business_zone)
    day = "" if opens.date() == local.date() else f" {opens:%a %d %b}"
    return (f"quiet hours: it is {local:%H:%M} in {business_zone}, inside {quiet.start}-{quiet.end} "
            f"(outreach.quiet_hours), when proactive messages wait for a decent hour: they are held until "
            f"{opens:%H:%M}{day} {business_zone}; customers with a time zone of their own get them at {quiet.end} "
            "their time; `engagebot run` sends them then")  # fmt: skip


def judge(
    outreach: OutreachSettings, business_zone: tzinfo, *, kind: str, customer: Customer | None, facts: Facts | None,
    now: datetime, expires_at: datetime | None = None,
) -> Verdict:  # fmt: skip
    """The verdict for one proactive row of `kind` for this (locked) customer and what was read about them
    (customer_facts.py), in the order a person would ask: may we at all, is it still worth sending, is
    it a decent hour, are they busy, too many? No I/O: the facts of many customers are read at once.
    Quiet hours are the customer's own, in the business's zone when they have none."""
    if customer is None or facts is None:
        return Verdict(SKIPPED, "customer no longer exists")
    if not customer.subscribed:
        return Verdict(SKIPPED, "opted out")
    if customer.unreachable:
        return Verdict(SKIPPED, "unreachable (the channel refused the last message)")
    if facts.ref is None:
        return Verdict(SKIPPED, "no chat identity (never wrote to the bot)")
    if expires_at is not None and now >= expires_at:
        return Verdict(SKIPPED, "expired: held past its expiry")
    if outreach.quiet_hours is not None:
        zone = customer_zone(customer, business_zone)
        opening = quiet_until(now, zone, outreach.quiet_hours)
        if opening is not None:
            if expires_at is not None and opening >= expires_at:
                return Verdict(SKIPPED, "expired: quiet hours last past its expiry")
            local = now.astimezone(zone).strftime("%H:%M")
            return Verdict(HELD, f"quiet hours ({local} in {zone})", opening)
    if facts.busy:
        return Verdict(DEFERRED, "customer mid-conversation", now + timedelta(minutes=outreach.defer_minutes))
    cap = outreach.frequency_cap
    if cap is not None and kind in CAPPED_KINDS and facts.cap_oldest is not None:
        # Held until the oldest send in the window drops out of it.
        until = facts.cap_oldest + timedelta(days=cap.window_days)
        return Verdict(HELD, f"frequency cap ({cap.max_messages} in {cap.window_days:g} days)", until)
    return Verdict(SENT, "allowed")


@dataclass(frozen=True)
class Judged:
    """A verdict about one outbox row, to be recorded."""

    outbox_id: int
    customer_id: int | None
    kind: str
    campaign_run_id: int | None
    verdict: Verdict


# Built once; RETURNING the outbox id too, so each decision is matched to its row whatever order comes back.
_RECORD = insert(DeliveryDecision.__table__).returning(
    DeliveryDecision.__table__.c.id, DeliveryDecision.__table__.c.outbox_id
)


async def record(session: AsyncSession, judged: Sequence[Judged], now: datetime) -> dict[int, int]:
    """Every verdict as a `delivery_decisions` row, in one multi-row INSERT; outbox id -> decision id."""
    if not judged:
        return {}
    rows = [
        {"outbox_id": j.outbox_id, "customer_id": j.customer_id, "campaign_run_id": j.campaign_run_id,
         "kind": j.kind, "decision": j.verdict.decision, "reason": j.verdict.reason[:200],
         "until": j.verdict.until, "created_at": now}
        for j in judged
    ]  # fmt: skip
    return {outbox_id: decision_id for decision_id, outbox_id in await session.execute(_RECORD, rows)}


async def withdraw(session: AsyncSession, outbox_id: int, reason: str) -> None:
    """A row let through that its feature did not send after all (the customer opened a ticket meanwhile): its send
    decision becomes a skip, so the frequency cap counts only what went out."""
    await session.execute(
        update(DeliveryDecision)
        .where(DeliveryDecision.outbox_id == outbox_id, DeliveryDecision.decision == SENT)
        .values(decision=SKIPPED, reason=reason[:200])
    )
