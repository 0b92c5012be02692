"""Recording survey answers and summarising them (NPS, CSAT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import later
from bot.surveys.models import SurveyResponse

RESPONSES = SurveyResponse.__table__
COLUMNS = ("customer_id", "survey", "kind", "score", "comment", "run_id", "ticket_id", "created_at")


async def record(
    session: AsyncSession, *, customer_id: int, survey: str, kind: str, now: datetime,
    score: int | None = None, comment: str | None = None, run_id: int | None = None,
    ticket_id: int | None = None,
) -> None:  # fmt: skip
    """The answer is written with the transaction's next statement (bot/storage/later.py): on PostgreSQL, most
    often the one that writes the turn's replies, at the end of the survey. Nothing in the turn reads it back. Through
    the ORM, the flush of one new row cost half a millisecond; on its own, it was a round trip."""
    values = dict(
        customer_id=customer_id, survey=survey, kind=kind, score=score, comment=comment or None,
        run_id=run_id, ticket_id=ticket_id, created_at=now,
    )  # fmt: skip
    later.insert_later(session, RESPONSES, values)


@dataclass(frozen=True)
class SurveySummary:
    survey: str
    kind: str
    responses: int
    score: float | None  # NPS (-100..100), CSAT (% satisfied), or None for text
    average: float | None
    comments: int


def nps(scores: list[int]) -> float | None:
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores), 1)


def csat(scores: list[int]) -> float | None:
    """Share of 4 and 5 ratings, in percent (the usual CSAT definition)."""
    if not scores:
        return None
    return round(100 * sum(1 for s in scores if s >= 4) / len(scores), 1)


def one_voice_each(rows: list[SurveyResponse]) -> list[SurveyResponse]:
    """A scored survey counts each customer once (once per ticket for a ticket's CSAT): their latest answer. Asking
    again after a change is the point of a survey; answering it again and again must not move the score."""
    latest: dict[tuple[str, str, int | None, int | None], SurveyResponse] = {}
    kept: list[SurveyResponse] = []
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        if row.kind in ("nps", "csat") and row.customer_id is not None:
            latest[(row.survey, row.kind, row.customer_id, row.ticket_id)] = row
        else:
            kept.append(row)
    return kept + list(latest.values())


async def summaries(session: AsyncSession, since: datetime | None = None) -> list[SurveySummary]:
    query = select(SurveyResponse)
    if since is not None:
        query = query.where(SurveyResponse.created_at >= since)
    rows = one_voice_each(list((await session.execute(query)).scalars()))
    groups: dict[tuple[str, str], list[SurveyResponse]] = {}
    for row in rows:
        groups.setdefault((row.survey, row.kind), []).append(row)
    out = []
    for (survey, kind), items in sorted(groups.items()):
        scores = [r.score for r in items if r.score is not None]
        headline = nps(scores) if kind == "nps" else csat(scores) if kind == "csat" else None
        average = round(sum(scores) / len(scores), 2) if scores else None
        out.append(SurveySummary(survey, kind, len(items), headline, average, sum(1 for r in items if r.comment)))
    return out
