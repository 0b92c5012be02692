"""Messages that matched nothing: kept so an admin can turn them into intent examples
(`engagebot intents unmatched`, grouped by similarity)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rapidfuzz import fuzz, utils
from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.base import IDS_NEVER_REUSED, Base, UTCDateTime
from bot.storage.database import Database

TEXT_SIZE = 500  # of a message kept: enough to read what it was about
SIMILAR = 75  # rapidfuzz token_set_ratio from which two messages are the same question in other words


class UnmatchedMessage(Base):
    __tablename__ = "unmatched_messages"
    __table_args__ = (Index("ix_unmatched_messages_created_at", "created_at"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Erasing a customer erases what they wrote here too.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(TEXT_SIZE))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))


async def record(session: AsyncSession, customer_id: int, channel: str, text: str, now: datetime) -> None:
    session.add(UnmatchedMessage(customer_id=customer_id, channel=channel[:32], text=text[:TEXT_SIZE], created_at=now))


@dataclass(frozen=True, slots=True)
class UnmatchedGroup:
    """Messages saying much the same thing: the most frequent wording first, how many, and when last."""

    texts: tuple[str, ...]
    count: int
    last_at: datetime


async def grouped(db: Database, since: datetime | None, limit: int = 5000) -> list[UnmatchedGroup]:
    """The latest `limit` unmatched messages since `since`, grouped by similarity, the largest groups first."""
    async with db.sessions() as session:
        return await _grouped(session, since, limit)


async def _grouped(session: AsyncSession, since: datetime | None, limit: int) -> list[UnmatchedGroup]:
    query = select(UnmatchedMessage.text, UnmatchedMessage.created_at).order_by(UnmatchedMessage.id.desc())
    if since is not None:
        query = query.where(UnmatchedMessage.created_at >= since)
    rows = (await session.execute(query.limit(limit))).all()
    return group_similar([(text, at) for text, at in rows])


def group_similar(messages: list[tuple[str, datetime]]) -> list[UnmatchedGroup]:
    """Greedy clustering: each message joins the first group whose first wording it resembles (token set ratio,
    so word order and repeated words do not matter), else starts a group. The most frequent wordings are placed
    first, so they become the groups' heads."""
    counts: dict[str, list[datetime]] = {}
    for text, at in messages:
        counts.setdefault(text, []).append(at)
    heads: list[tuple[str, list[str], int, datetime]] = []
    for text, times in sorted(counts.items(), key=lambda item: (-len(item[1]), item[0])):
        clean = utils.default_process(text)
        for index, (head, members, count, last) in enumerate(heads):
            if fuzz.token_set_ratio(clean, head) >= SIMILAR:
                heads[index] = (head, [*members, text], count + len(times), max(last, *times))
                break
        else:
            heads.append((clean, [text], len(times), max(times)))
    groups = [UnmatchedGroup(tuple(members), count, last) for _head, members, count, last in heads]
    return sorted(groups, key=lambda g: (-g.count, g.texts[0]))
