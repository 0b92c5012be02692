"""Survey results for adapters (the CLI's report): the summary of every survey, in one read."""

from __future__ import annotations

from datetime import datetime

from bot.storage.database import Database
from bot.surveys import responses
from bot.surveys.responses import SurveySummary


class SurveyResults:
    def __init__(self, db: Database):
        self.db = db

    async def summaries(self, since: datetime | None = None) -> list[SurveySummary]:
        """NPS, CSAT and answer counts per survey (answers since `since`, or all)."""
        async with self.db.transaction() as session:
            return await responses.summaries(session, since)
