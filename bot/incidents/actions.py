"""What adapters (the CLI, the API, the console) do with incidents: open one, post an update, resolve it, list them and
report on one. Each call is one unit of work."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.incidents import notices
from bot.incidents.audience import AudienceSpec, matching
from bot.incidents.models import OPEN, RESOLVED, Incident, IncidentCustomer, IncidentNotice
from bot.incidents.views import Complaint, IncidentLine, IncidentReport, Posted, iso, line_of
from bot.ports import Clock
from bot.rewards.alerts import queue_alert
from bot.storage.database import Database
from bot.tickets.models import Ticket

SEVERITIES = ("low", "normal", "high", "critical")
MAX_TEXT = 4000


class IncidentError(Exception):
    """A request about incidents that cannot be done; the message says why."""


def _text(value: Any, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise IncidentError(f"{name} must be text")
    value = value.strip()
    if required and not value:
        raise IncidentError(f"{name} is needed: the customers read it")
    if len(value) > limit:
        raise IncidentError(f"{name} is longer than {limit} characters")
    return value


def parse_audience(data: Any) -> AudienceSpec:
    """The affected customers' condition from a request; IncidentError with every problem otherwise."""
    if not isinstance(data, dict):
        raise IncidentError("audience must be an object: tiers, tags, when, event {name, since, until, where} or all")
    try:
        return AudienceSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise IncidentError(f"audience: {problems}") from None


def _problem(error: Any) -> str:
    """One validation error as people read it: "event.since: ..." or the message alone for the whole audience."""
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(map(str, error["loc"]))
    return f"{where}: {message}" if where else message


class IncidentActions:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    async def open(
        self, *, title: str, what_happened: str, what_we_do: str, audience: AudienceSpec,
        next_update_at: datetime | None = None, severity: str = "normal", by: str = "",
    ) -> Posted:  # fmt: skip
        """Open an incident: find the affected customers and queue the opening notice for them."""
        if severity not in SEVERITIES:
            raise IncidentError(f"severity must be one of {', '.join(SEVERITIES)}")
        tiers = self.settings.tiers
        known = {tiers.default, *(rule.tier for rule in tiers.rules)}
        unknown = sorted(set(audience.tiers) - known)
        if unknown:
            raise IncidentError(f"audience: unknown tier {', '.join(unknown)} (tiers: {', '.join(sorted(known))})")
        now = self.clock.now()
        self._future(next_update_at, now)
        async with self.db.transaction() as session:
            incident = Incident(
                title=_text(title, "title", required=True, limit=200), severity=severity, status=OPEN,
                what_happened=_text(what_happened, "what happened", required=True),
                what_we_do=_text(what_we_do, "what we are doing", required=True), next_update_at=next_update_at,
                audience=audience.as_data(), opened_by=by[:200], opened_at=now, updated_at=now,
            )  # fmt: skip
            session.add(incident)
            await session.flush()
            notice = IncidentNotice(incident_id=incident.id, seq=0, kind="opened", body="", actor=by[:200],
                                    created_at=now)  # fmt: skip
            session.add(notice)
            affected = await self._affect(session, incident, audience, now)
            queued = await notices.plan(session, self.settings, incident, notice, affected, now)
            return Posted(await line_of(session, incident), len(affected), queued, len(affected))

    async def update(self, incident_id: int, text: str, *, next_update_at: datetime | None = None, by: str = "",
                     what_we_do: str | None = None) -> Posted:  # fmt: skip
        """Post an update to the affected customers (the ones found so far, and any who match now)."""
        return await self._post(incident_id, "update", text, by, next_update_at, what_we_do)

    async def resolve(self, incident_id: int, text: str, *, by: str = "") -> Posted:
        """Resolve it: the affected customers hear it is over."""
        return await self._post(incident_id, "resolved", text, by, None, None)

    async def _post(self, incident_id: int, kind: str, text: str, by: str, next_update_at: datetime | None,
                    what_we_do: str | None) -> Posted:  # fmt: skip
        body = _text(text, "the update" if kind == "update" else "the resolution", required=True)
        now = self.clock.now()
        self._future(next_update_at, now)
        async with self.db.transaction() as session:
            incident = await _locked(session, incident_id)
            if incident.status == RESOLVED:
                raise IncidentError(f"incident #{incident.id} is already resolved")
            seq = int((await session.execute(select(func.max(IncidentNotice.seq)).where(
                IncidentNotice.incident_id == incident.id))).scalar_one() or 0) + 1  # fmt: skip
            notice = IncidentNotice(incident_id=incident.id, seq=seq, kind=kind, body=body, actor=by[:200],
                                    created_at=now)  # fmt: skip
            session.add(notice)
            incident.updated_at = now
            if what_we_do:
                incident.what_we_do = _text(what_we_do, "what we are doing")
            if kind == "resolved":
                incident.status, incident.resolved_at, incident.next_update_at = RESOLVED, now, None
            elif next_update_at is not None:
                incident.next_update_at = next_update_at
            await session.flush()
            before = await _affected_ids(session, incident.id)
            found = await self._affect(session, incident, AudienceSpec.model_validate(incident.audience), now)
            everyone = sorted(set(before) | set(found))
            queued = await notices.plan(session, self.settings, incident, notice, everyone, now)
            return Posted(await line_of(session, incident), len(everyone), queued, len(set(found) - set(before)))

    async def remind_overdue(self) -> int:
        """Alert staff once about each open incident whose promised update is late (customers were told when to expect
        it). Any instance may run it: the alert's key makes it one per promised moment. How many were queued."""
        now = self.clock.now()
        queued = 0
        async with self.db.transaction() as session:
            late = select(Incident).where(Incident.status == OPEN, Incident.next_update_at < now)
            for incident in (await session.execute(late)).scalars():
                promised = incident.next_update_at
                assert promised is not None
                text = (f"Incident #{incident.id} ({incident.title}): the next update was promised to customers for "
                        f"{promised.astimezone(self.settings.business.zone):%a %d %b %H:%M}. Post one with "
                        f"`engagebot incidents update {incident.id}` or in the console.")  # fmt: skip
                key = f"incident-late:{incident.id}:{promised.isoformat()}"
                queued += await queue_alert(session, self.settings, key, text, now)
        return queued

    def _future(self, moment: datetime | None, now: datetime) -> None:
        if moment is not None and moment <= now:
            raise IncidentError("the next update must be in the future")

    async def _affect(self, session: AsyncSession, incident: Incident, spec: AudienceSpec, now: datetime) -> list[int]:
        """Record who the audience matches now (those found before stay affected); their ids."""
        found = await matching(session, spec, now, self.settings.business.zone)
        known = set(await _affected_ids(session, incident.id))
        new = [{"incident_id": incident.id, "customer_id": c, "found_at": now, "notified": 0}
               for c in found if c not in known]  # fmt: skip
        if new:
            await session.execute(insert(IncidentCustomer.__table__), new)
        return found

    async def list(self, *, status: str | None = None, limit: int = 50) -> list[IncidentLine]:
        async with self.db.sessions() as session:
            query = select(Incident).order_by(Incident.id.desc()).limit(limit)
            if status is not None:
                query = query.where(Incident.status == status)
            return [await line_of(session, i) for i in (await session.execute(query)).scalars()]

    async def show(self, incident_id: int) -> IncidentReport:
        """Who was affected and told, the complaints linked to it and their CSAT."""
        async with self.db.sessions() as session:
            incident = await session.get(Incident, incident_id)
            if incident is None:
                raise IncidentError(f"no incident #{incident_id}")
            who = select(IncidentCustomer).where(IncidentCustomer.incident_id == incident.id)
            affected = list((await session.execute(who.order_by(IncidentCustomer.customer_id))).scalars())
            posted = (await session.execute(select(IncidentNotice).where(
                IncidentNotice.incident_id == incident.id).order_by(IncidentNotice.seq))).scalars()  # fmt: skip
            linked = (await session.execute(select(Ticket).where(Ticket.incident_id == incident.id)
                                            .order_by(Ticket.id))).scalars()  # fmt: skip
            complaints = [Complaint(t.ref or "", t.customer_id, t.status, t.summary, t.csat_score) for t in linked]
            scores = [c.csat for c in complaints if c.csat is not None]
            spec = AudienceSpec.model_validate(incident.audience)
            return IncidentReport(
                line=await line_of(session, incident), what_happened=incident.what_happened,
                what_we_do=incident.what_we_do, audience=spec.summary(),
                notices=[{"seq": n.seq, "kind": n.kind, "body": n.body, "by": n.actor, "at": n.created_at.isoformat()}
                         for n in posted],
                customers=[{"customer_id": a.customer_id, "notified": a.notified,
                            "last_notified_at": iso(a.last_notified_at), "not_notified_because": a.skipped}
                           for a in affected],
                not_notified=dict(Counter(a.skipped for a in affected if a.skipped)),
                complaints=complaints, csat_average=round(sum(scores) / len(scores), 2) if scores else None,
                csat_responses=len(scores),
            )  # fmt: skip


async def _locked(session: AsyncSession, incident_id: int) -> Incident:
    incident = (await session.execute(select(Incident).where(Incident.id == incident_id).with_for_update())
                ).scalar_one_or_none()  # fmt: skip
    if incident is None:
        raise IncidentError(f"no incident #{incident_id}")
    return incident


async def _affected_ids(session: AsyncSession, incident_id: int) -> list[int]:
    query = select(IncidentCustomer.customer_id).where(IncidentCustomer.incident_id == incident_id)
    return list((await session.execute(query)).scalars())
