"""Clearing claimed proactive rows through the delivery policy: a group of rows in one transaction.

The customers are locked first, in id order (an opt-out takes the customer before the rows, and other
batches lock customers in id order too: no deadlock); an opt-out committed before is seen, one committed
after waits for us. Then the rows' leases are renewed with the claims' attempt numbers as fencing tokens
(a row another worker claimed meanwhile is left to it), what the policy needs is read in one statement
(customer_facts.py), each row is judged without I/O (policy.py), the verdicts are
recorded with one multi-row INSERT and the rows' new states written with one statement per outcome. A
message campaign's row becomes the plain send of its rendered message, recorded in the transcript.
About ten statements for the group, where one row at a time took about nine per row.

The rows of one group belong to different customers: a customer's later rows are judged after their
earlier ones are carried out (the dispatcher's per-customer order).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, transcript
from bot.config import Campaign, Settings
from bot.conversations.engine import ConversationEngine
from bot.customers.kinds import CustomerKind
from bot.customers.models import Customer
from bot.messages import reply_from_dict
from bot.outbox.claims import Claimed, Cleared, Outcome
from bot.outreach.campaigns import catalog
from bot.outreach.campaigns.kinds import CampaignKind
from bot.outreach.delivery import customer_facts, policy
from bot.outreach.models import DEFERRED, HELD, SENT, SKIPPED, CampaignRun, DeliveryDecision
from bot.rewards import claims as rewards

log = logging.getLogger(__name__)

# A row of a campaign this instance does not know (saved on another instance a moment ago, or retired) is looked at
# again this often until its campaign's messages would have expired: soon while its occurrence is new (the campaign
# store's poll brings the campaign within seconds), then rarely (a retired campaign's rows must not churn).
UNKNOWN_CAMPAIGN_RETRY = timedelta(minutes=5)
UNKNOWN_CAMPAIGN_SOON = timedelta(seconds=5)
NEW_OCCURRENCE = timedelta(minutes=2)

# Built once: they run for every group.
_LOCK_CUSTOMERS = (
    select(Customer).where(Customer.id.in_(bindparam("ids", expanding=True))).order_by(Customer.id).with_for_update()
)
_RUNS_DUE = select(CampaignRun.id, CampaignRun.due_at).where(CampaignRun.id.in_(bindparam("ids", expanding=True)))


class Clearing:
    """The delivery policy as the outbox's gate for proactive rows (bot/outbox/gate.py)."""

    def __init__(self, settings: Settings, engine: ConversationEngine, lease: timedelta):
        self.settings = settings
        self.engine = engine
        self.lease = lease
        # Campaign occurrence -> when it was due (fixed once planned), for the expiry of its messages.
        self._run_due: dict[int, datetime] = {}
        self._warned: set[str] = set()

    async def clear(self, session: AsyncSession, items: Sequence[Claimed], now: datetime) -> dict[int, Outcome]:
        """Judge, record and apply the policy to `items` (of different customers); row id -> outcome."""
        outcome: dict[int, Outcome] = {item.id: None for item in items}
        locked = await session.execute(_LOCK_CUSTOMERS, {"ids": [i.customer_id for i in items if i.customer_id]})
        customers = {customer.id: customer for customer in locked.scalars()}
        ours = await outbox.renew_many(session, {item.id: item.attempts for item in items}, now + self.lease)
        # Rows another worker claimed after our lease ran out are left to it.
        live = {item.id: replace(item, leased_until=now + self.lease) for item in items if item.id in ours}

        verdicts, no_listener, known = await self._judge(session, list(live.values()), customers, now)
        waiting = await self._unknown_campaigns(session, list(live.values()), verdicts, now)
        # What the rows let through say, before anything is written: a template that fails fails its row alone.
        cleared: dict[int, Claimed] = {}
        for item_id, verdict in list(verdicts.items()):
            if verdict.decision != SENT:
                continue
            item = live[item_id]
            try:
                cleared[item_id] = await self._content(session, item, customers.get(item.customer_id or 0), known, now)
            except Exception as exc:
                outcome[item_id] = exc
                del verdicts[item_id]
                continue
            if cleared[item_id].kind == outbox.SEND and not cleared[item_id].payload["replies"]:
                verdicts[item_id] = policy.Verdict(SKIPPED, "nothing to send")
                del cleared[item_id]

        # A row left behind a customer erased meanwhile (the outbox has no foreign key: migration 0019) is skipped
        # as "customer no longer exists"; its decision names nobody, as the decisions' key requires.
        judged = [policy.Judged(i, live[i].customer_id if live[i].customer_id in customers else None, live[i].kind,
                                live[i].campaign_run_id, verdict)
                  for i, verdict in verdicts.items()]  # fmt: skip
        decisions = await policy.record(session, judged, now)
        if no_listener:
            await outbox.finish_many(session, no_listener, now)
        await outbox.skip_many(session, {i: v.reason for i, v in verdicts.items() if v.decision == SKIPPED}, now)
        held = {i: (v.until, v.reason) for i, v in verdicts.items() if v.decision in (HELD, DEFERRED) and v.until}
        held.update(waiting)
        await outbox.postpone_many(session, held)
        sends = {i: item for i, item in cleared.items() if item.kind == outbox.SEND}
        await self._become_sends(session, sends, now)
        for item_id, item in cleared.items():
            if item_id in sends:
                # No earlier send of theirs waiting: it needs no order check of its own.
                first = known[item.customer_id or 0].first_unsent_send
                item = replace(item, in_order=first is None or first > item_id)
            outcome[item_id] = Cleared(item, decisions[item_id])
        return outcome

    async def deferred(self, session: AsyncSession, decision_id: int, reason: str, until: datetime) -> None:
        """A row let through found its customer busy after all: its decision becomes a deferral (not a send)."""
        decision = await session.get(DeliveryDecision, decision_id)
        if decision is not None:
            decision.decision, decision.reason, decision.until = DEFERRED, reason, until

    async def _judge(
        self, session: AsyncSession, items: Sequence[Claimed], customers: dict[int, Customer], now: datetime
    ) -> tuple[dict[int, policy.Verdict], list[int], dict[int, customer_facts.Facts]]:
        """Verdicts per row id, the rows of CRM events no flow listens to (nothing to judge or count), and
        what was read about the judged customers."""
        registry = self.engine.registry
        verdicts: dict[int, policy.Verdict] = {}
        no_listener: list[int] = []
        to_judge: list[tuple[Claimed, Campaign | None]] = []
        for item in items:
            if item.kind == CustomerKind.EVENT and not registry.indexes.events.get(item.payload.get("event", "")):
                no_listener.append(item.id)
                continue
            name = item.payload.get("campaign") if item.kind == CampaignKind.CAMPAIGN else None
            campaign = self.settings.campaigns.get(name) if name else None
            flow = campaign.flow if campaign is not None else item.payload.get("flow_id")
            if name and campaign is None:
                continue  # not known here (yet): _unknown_campaigns
            if name and not campaign.enabled:
                verdicts[item.id] = policy.Verdict(SKIPPED, f"campaign {name!r} is disabled")
            elif flow and registry.current(flow) is None:
                verdicts[item.id] = policy.Verdict(SKIPPED, f"flow {flow!r} is not loaded (see engagebot flows check)")
            else:
                to_judge.append((item, campaign))
        if not to_judge:
            return verdicts, no_listener, {}
        known = await customer_facts.read(session, {i.customer_id for i, _ in to_judge if i.customer_id}, now,
                                 self.settings.outreach.frequency_cap)  # fmt: skip
        due = await self._runs_due(session, {i.campaign_run_id for i, c in to_judge if c and i.campaign_run_id})
        outreach, business_zone = self.settings.outreach, self.settings.business.zone
        for item, campaign in to_judge:
            # Campaign messages go stale; check-ins and event flows do not.
            expires_at = None
            if campaign is not None:
                run_due = due.get(item.campaign_run_id) if item.campaign_run_id is not None else None
                expires_at = (run_due or now) + catalog.expiry(outreach, campaign)
            customer_id = item.customer_id
            verdicts[item.id] = policy.judge(
                outreach, business_zone, kind=item.kind, customer=customers.get(customer_id) if customer_id else None,
                facts=known.get(customer_id) if customer_id else None, now=now, expires_at=expires_at,
            )  # fmt: skip
        return verdicts, no_listener, known

    async def _unknown_campaigns(
        self, session: AsyncSession, items: Sequence[Claimed], verdicts: dict[int, policy.Verdict], now: datetime
    ) -> dict[int, tuple[datetime, str]]:
        """Rows of campaigns missing from this instance's settings wait (row id -> (look again, reason)), with no
        decision recorded: the campaign may be new, planned with newer settings than this instance was started
        with, and is sent once an instance that knows it claims the row. Only a row older than any campaign's
        messages live (outreach.expire_after_hours) is skipped, as removed."""
        unknown = [item for item in items if item.kind == CampaignKind.CAMPAIGN and item.id not in verdicts
                   and self.settings.campaigns.get(item.payload.get("campaign") or "") is None]  # fmt: skip
        if not unknown:
            return {}
        due = await self._runs_due(session, {item.campaign_run_id for item in unknown if item.campaign_run_id})
        live_for = timedelta(hours=self.settings.outreach.expire_after_hours)
        waiting: dict[int, tuple[datetime, str]] = {}
        for item in unknown:
            name = item.payload.get("campaign")
            run_due = due.get(item.campaign_run_id) if item.campaign_run_id is not None else None
            if (run_due or now) + live_for <= now:
                verdicts[item.id] = policy.Verdict(SKIPPED, f"campaign {name!r} was retired or removed")
                continue
            reason = f"campaign {name!r} is not in force on this instance yet"
            new = now - (run_due or now) < NEW_OCCURRENCE
            waiting[item.id] = (now + (UNKNOWN_CAMPAIGN_SOON if new else UNKNOWN_CAMPAIGN_RETRY), reason)
        names = sorted({str(item.payload.get("campaign")) for item in unknown if item.id in waiting} - self._warned)
        if names:
            self._warned.update(names)  # once per campaign and process: the rows come round every few minutes
            log.warning("campaign rows wait: %s not in force on this instance (yet: it reads the campaign store every "
                        "2 s; or retired)", ", ".join(names))  # fmt: skip
        return waiting

    async def _runs_due(self, session: AsyncSession, run_ids: Collection[int]) -> dict[int, datetime]:
        missing = [run_id for run_id in run_ids if run_id not in self._run_due]
        if missing:
            if len(self._run_due) > 1000:
                self._run_due.clear()
            self._run_due.update({run_id: due for run_id, due in await session.execute(_RUNS_DUE, {"ids": missing})})
        return {run_id: self._run_due[run_id] for run_id in run_ids if run_id in self._run_due}

    async def _content(
        self, session: AsyncSession, item: Claimed, customer: Customer | None, known: dict[int, customer_facts.Facts],
        now: datetime,
    ) -> Claimed:  # fmt: skip
        """A flow campaign's row names its flow (the dispatcher starts it); a message campaign's row becomes the
        plain send of its rendered message; other rows are carried out as they are."""
        name = item.payload.get("campaign") if item.kind == CampaignKind.CAMPAIGN else None
        campaign = self.settings.campaigns.get(name) if name else None
        if campaign is None or customer is None:
            return item
        if campaign.flow:
            return replace(item, payload={**item.payload, "flow": campaign.flow})
        reward = None
        if campaign.reward:
            given = await rewards.claim(session, self.settings, campaign.reward, customer.id, now,
                                        reason=f"campaign:{name}", given_by=f"campaign:{name}")  # fmt: skip
            # A surprise that cannot be given is not announced (staff were alerted); one they had is not repeated.
            if not given.given or given.already:
                return replace(item, kind=outbox.SEND, payload={**item.payload, "replies": []}, proactive=False)
            reward = given.as_context()
        replies = await catalog.render(session, self.settings.business, name or "", campaign, customer, now=now,
                                       reward=reward)  # fmt: skip
        ref = known[customer.id].ref
        assert ref is not None  # let through: the facts read in this transaction found their chat
        payload = outbox.send_payload(ref, replies)
        return replace(item, kind=outbox.SEND, payload=payload, proactive=False)

    async def _become_sends(self, session: AsyncSession, sends: dict[int, Claimed], now: datetime) -> None:
        """The rendered messages into the transcript, and their rows into plain sends."""
        if not sends:
            return
        said: list[transcript.Outbound] = []
        for item in sends.values():
            assert item.customer_id is not None  # rendered for its customer (_content)
            replies = [reply_from_dict(reply) for reply in item.payload["replies"]]
            said.append(transcript.Outbound(item.customer_id, item.payload["channel"], replies))
        await transcript.record_outbound_many(session, said, now)
        await outbox.become_sends(session, {item_id: item.payload for item_id, item in sends.items()})
