"""Survey answers: one row per recorded answer (NPS, CSAT, free text)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, utcnow


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (
        Index("ix_survey_responses_survey_created", "survey", "created_at"),
        # The reports (migration 0010): one kind's newest comments; and each customer's answers in order, read from
        # the index alone (score included) by the window that counts each customer once (bot/reports/scores.py).
        Index("ix_survey_responses_kind_created", "kind", "created_at"),
        Index(
            "ix_survey_responses_kind_voice",
            "kind",
            "customer_id",
            "survey",
            "ticket_id",
            "created_at",
            "id",
            postgresql_include=["score"],
        ),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    survey: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # nps | csat | text
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None]
    ticket_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
