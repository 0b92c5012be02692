"""What the incident services answer: one incident in a list, the report on one, and what a notice was queued for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.models import Incident, IncidentCustomer


@dataclass(frozen=True)
class IncidentLine:
    id: int
    title: str
    severity: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    next_update_at: datetime | None
    affected: int
    notified: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "severity": self.severity, "status": self.status,
            "opened_at": self.opened_at.isoformat(), "resolved_at": iso(self.resolved_at),
            "next_update_at": iso(self.next_update_at), "affected": self.affected, "notified": self.notified,
        }  # fmt: skip


@dataclass(frozen=True)
class Complaint:
    ref: str
    customer_id: int
    status: str
    summary: str
    csat: int | None


@dataclass(frozen=True)
class IncidentReport:
    line: IncidentLine
    what_happened: str
    what_we_do: str
    audience: str
    notices: list[dict[str, Any]]
    # Affected customers: their ids, how many notices reached them, and why the last one did not.
    customers: list[dict[str, Any]]
    not_notified: dict[str, int]
    complaints: list[Complaint] = field(default_factory=list)
    # Of the linked tickets with a score.
    csat_average: float | None = None
    csat_responses: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.line.to_json(), "what_happened": self.what_happened, "what_we_do": self.what_we_do,
            "audience": self.audience, "notices": self.notices, "customers": self.customers,
            "not_notified": self.not_notified,
            "complaints": [c.__dict__ for c in self.complaints],
            "csat": {"average": self.csat_average, "responses": self.csat_responses},
        }  # fmt: skip


@dataclass(frozen=True)
class Posted:
    """What opening, updating or resolving did: the incident, and how many customers this notice was queued for."""

    incident: IncidentLine
    affected: int
    queued: int
    newly_affected: int = 0


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def line_of(session: AsyncSession, incident: Incident) -> IncidentLine:
    counts = (await session.execute(
        select(func.count(), func.count().filter(IncidentCustomer.notified > 0)).where(
            IncidentCustomer.incident_id == incident.id)
    )).one()  # fmt: skip
    return IncidentLine(incident.id, incident.title, incident.severity, incident.status, incident.opened_at,
                        incident.resolved_at, incident.next_update_at, int(counts[0]), int(counts[1]))  # fmt: skip
