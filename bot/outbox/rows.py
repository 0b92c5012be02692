"""Outbox rows: enqueue with a dedupe key, claim due rows (SKIP LOCKED on PostgreSQL), finish or retry."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Integer, String, TextClause, any_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.base import Executable

from bot.messages import ChannelRef, Reply, reply_to_dict
from bot.outbox.claims import Claimed
from bot.outbox.kinds import OutboxKind
from bot.outbox.models import CANCELLED, DONE, FAILED, LEASED, PENDING, OutboxItem
from bot.storage import plain
from bot.storage.base import utcnow
from bot.storage.dialects import insert_for

SEND = OutboxKind.SEND
_TABLE = OutboxItem.__table__


async def enqueue(
    session: AsyncSession, *, kind: str, dedupe_key: str, due_at: datetime, customer_id: int | None,
    payload: dict[str, Any], proactive: bool = False,
) -> bool:  # fmt: skip
    """Insert unless a row with the same dedupe key exists; True when inserted."""
    values = dict(
        kind=kind, dedupe_key=dedupe_key[:200], due_at=due_at, customer_id=customer_id,
        payload=payload, proactive=proactive, status=PENDING, attempts=0, created_at=utcnow(),
    )  # fmt: skip
    return bool(await plain.execute(session, _insert_unless_known(insert_for(session)), values))


@functools.cache
def _insert_unless_known(dialect_insert: Any) -> Executable:
    """Built once per dialect (`insert_for`) and run straight (plain.py): built and run through the session for each
    row, it was about half a millisecond of CPU, paid by every new customer's first words (their onboarding put off)."""
    return dialect_insert(_TABLE).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(_TABLE.c.id)


def send_payload(ref: ChannelRef, replies: Sequence[Reply]) -> dict[str, Any]:
    return {"channel": ref.channel, "address": ref.address, "replies": [reply_to_dict(r) for r in replies]}


async def enqueue_send(
    session: AsyncSession, *, customer_id: int, ref: ChannelRef, replies: Sequence[Reply],
    dedupe_key: str, due_at: datetime, proactive: bool = False,
) -> bool:  # fmt: skip
    payload = send_payload(ref, replies)
    return await enqueue(
        session,
        kind=SEND,
        dedupe_key=dedupe_key,
        due_at=due_at,
        customer_id=customer_id,
        payload=payload,
        proactive=proactive,
    )


# One statement per status: the due rows, in the order of the (status, due_at, id) index, so a claim reads about the
# rows it takes (one query with an OR of both statuses sorted the whole queue: seconds at a million rows), leased
# and returned with whether each send is its customer's first one unsent (no order check of its own then). One
# round trip where the ORM took five and a per-row UPDATE; it commits on its own on PostgreSQL (Database.statements).
# The subquery reads the rows as they were before the statement: claimed rows count as unsent either way.
# Constants are literals, never parameters: PostgreSQL's generic plan for a prepared claim with a parameter for the
# status sorted every due row (66 ms a claim at 10,000 rows, against 4 ms). Written out: SQLAlchemy drops the table
# names from a RETURNING subquery on SQLite, which makes its columns ambiguous.
# Whether an earlier send to the outbox row's customer is still unsent (pending or leased): the claim's `in_order`
# and an inserted reply's `held` (delivery.py, bot/conversations/reply_batch.py). Literals, as in the claim.
EARLIER_UNSENT_SQL = (
    f"EXISTS (SELECT 1 FROM outbox AS earlier WHERE earlier.customer_id = outbox.customer_id "
    f"AND earlier.kind = '{SEND}' AND earlier.id < outbox.id AND earlier.status IN ('{PENDING}', '{LEASED}'))"
)
_CLAIM = f"""
WITH due AS (
  SELECT id FROM outbox WHERE {{due}} AND kind NOT IN :excluded ORDER BY due_at, id LIMIT :limit {{lock}})
UPDATE outbox SET status = '{LEASED}', lease_until = :until, attempts = outbox.attempts + 1
FROM due WHERE outbox.id = due.id
RETURNING outbox.id, outbox.kind, outbox.payload, outbox.customer_id, outbox.attempts, outbox.proactive,
  outbox.campaign_run_id, outbox.due_at,
  outbox.kind = '{SEND}' AND NOT {EARLIER_UNSENT_SQL} AS in_order"""
_DUE = {"expired": f"status = '{LEASED}' AND lease_until < :now", "pending": f"status = '{PENDING}' AND due_at <= :now"}


def _claim_statement(due: str, skip_locked: bool) -> TextClause:
    when = _TABLE.c.due_at.type
    return (
        text(_CLAIM.format(due=_DUE[due], lock="FOR UPDATE SKIP LOCKED" if skip_locked else ""))
        .bindparams(bindparam("excluded", type_=String, expanding=True, literal_execute=True),
                    bindparam("now", type_=when), bindparam("until", type_=when))
        .columns(id=Integer, kind=String, payload=_TABLE.c.payload.type, customer_id=Integer, attempts=Integer,
                 proactive=Boolean, campaign_run_id=Integer, due_at=when, in_order=Boolean)
    )  # fmt: skip


_CLAIMS = {(due, locked): _claim_statement(due, locked) for due in _DUE for locked in (False, True)}


async def claim_due(
    session: AsyncSession | AsyncConnection, now: datetime, *, limit: int, lease: timedelta, skip_locked: bool,
    exclude_kinds: Sequence[str] = (),
) -> list[Claimed]:  # fmt: skip
    """Lease up to `limit` due rows, oldest due first: rows whose lease ran out (their worker died), then pending
    ones. Each claim adds one to the row's attempts: the fencing token of `renew`."""
    until = now + lease
    # "" is no kind: an empty list would make NOT IN exclude every row.
    params = {"now": now, "until": until, "excluded": [*exclude_kinds, ""]}
    found: list[Any] = []
    for due in _DUE:
        if len(found) >= limit:
            break
        statement = _CLAIMS[(due, skip_locked)]
        found += (await session.execute(statement, {**params, "limit": limit - len(found)})).all()
    found.sort(key=lambda row: (row.due_at, row.id))
    return [
        Claimed(row.id, row.kind, row.payload, row.customer_id, row.attempts, row.proactive, row.campaign_run_id,
                until, in_order=bool(row.in_order))
        for row in found
    ]  # fmt: skip


async def renew(session: AsyncSession, item_id: int, attempts: int, until: datetime) -> bool:
    """Extend our lease right before acting on a row. `attempts` grows with every claim, so it tells
    whether the row is still ours: False means the lease ran out and another worker claimed it."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.status == LEASED, OutboxItem.attempts == attempts)
        .values(lease_until=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Built once, each run with many rows (executemany): the statements of clearing a group of proactive rows.
_RENEW_MANY = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)), _TABLE.c.status == LEASED,
           _TABLE.c.attempts == bindparam("claim_attempts"))
    .values(lease_until=bindparam("until"))
    .returning(_TABLE.c.id)
)  # fmt: skip
_SKIP = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("item_id"))
    .values(status=CANCELLED, finished_at=bindparam("now"), lease_until=None, last_error=bindparam("reason"))
)
_POSTPONE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("item_id"))
    .values(status=PENDING, due_at=bindparam("due_again"), lease_until=None, last_error=bindparam("reason"),
            attempts=_TABLE.c.attempts - 1)
)  # fmt: skip
_BECOME_SEND = (
    update(_TABLE).where(_TABLE.c.id == bindparam("item_id")).values(kind=SEND, payload=bindparam("send_payload"),
                                                                    proactive=False)
)  # fmt: skip


async def renew_many(session: AsyncSession, leases: Mapping[int, int], until: datetime) -> set[int]:
    """`renew` for many rows (row id -> the claim's attempts); the ids still ours. One statement per distinct
    attempt number: rows claimed together mostly share one."""
    by_attempts: dict[int, list[int]] = {}
    for item_id, attempts in leases.items():
        by_attempts.setdefault(attempts, []).append(item_id)
    ours: set[int] = set()
    for attempts, ids in by_attempts.items():
        params = {"ids": ids, "claim_attempts": attempts, "until": until}
        ours.update((await session.execute(_RENEW_MANY, params)).scalars())
    return ours


async def skip(session: AsyncSession, item_id: int, now: datetime, reason: str) -> None:
    """Not sent, on purpose (the delivery policy said no): the row ends, with the reason."""
    await skip_many(session, {item_id: reason}, now)


async def skip_many(session: AsyncSession, reasons: Mapping[int, str], now: datetime) -> None:
    """`skip` for many rows (row id -> reason) in one executemany."""
    if reasons:
        params = [{"item_id": i, "now": now, "reason": reason[:2000]} for i, reason in reasons.items()]
        await session.execute(_SKIP, params)


async def postpone_many(session: AsyncSession, until: Mapping[int, tuple[datetime, str]]) -> None:
    """Held or deferred by the delivery policy (row id -> (due again, reason)): `retry_later` with
    failed=False for many rows, so the wait uses up none of the attempts."""
    if until:
        params = [{"item_id": i, "due_again": due, "reason": reason[:2000]} for i, (due, reason) in until.items()]
        await session.execute(_POSTPONE, params)


async def become_sends(session: AsyncSession, payloads: Mapping[int, dict[str, Any]]) -> None:
    """Cleared campaign rows turn into plain sends of their rendered messages (sent, retried and ordered
    like any reply from here on; the policy has had its say)."""
    if payloads:
        await session.execute(_BECOME_SEND, [{"item_id": i, "send_payload": p} for i, p in payloads.items()])


async def finish(session: AsyncSession, item_id: int, now: datetime) -> None:
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id).values(status=DONE, finished_at=now, lease_until=None)
    )


# Built once: it runs for every claim and every group of cleared campaign messages.
_FIRST_UNSENT_SENDS = (
    select(_TABLE.c.customer_id, func.min(_TABLE.c.id))
    .where(_TABLE.c.customer_id.in_(bindparam("customer_ids", expanding=True)), _TABLE.c.kind == SEND,
           _TABLE.c.status.in_((PENDING, LEASED)))
    .group_by(_TABLE.c.customer_id)
)  # fmt: skip


async def first_unsent_sends(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, int]:
    """Per customer, the id of their first send not yet carried out (pending or leased)."""
    if not customer_ids:
        return {}
    rows = await session.execute(_FIRST_UNSENT_SENDS, {"customer_ids": list(customer_ids)})
    return {customer_id: first for customer_id, first in rows}


# Built once: on the reply path, building the statement cost more than running it.
_FINISH_MANY = (
    update(OutboxItem.__table__)
    .where(OutboxItem.__table__.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=DONE, finished_at=bindparam("now"), lease_until=None)
)
_FINISH_ONE = (
    update(OutboxItem.__table__)
    .where(OutboxItem.__table__.c.id == bindparam("item_id"))
    .values(status=DONE, finished_at=bindparam("now"), lease_until=None)
)
# On PostgreSQL one array parameter: an IN list is a new statement (prepared again) for every number of rows.
_FINISH_MANY_PG = (
    update(OutboxItem.__table__)
    .where(OutboxItem.__table__.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))
    .values(status=DONE, finished_at=bindparam("now"), lease_until=None)
)


async def finish_many(session: AsyncSession | AsyncConnection, item_ids: Sequence[int], now: datetime) -> None:
    """`finish` for many rows in one statement (replies sent at about the same time)."""
    dialect = session.bind.dialect if isinstance(session, AsyncSession) else session.dialect
    if dialect.name == "postgresql":
        await plain.execute(session, _FINISH_MANY_PG, {"ids": list(item_ids), "now": now}, autoflush=False)
    elif len(item_ids) == 1:  # most marks: straight (an IN list goes through SQLAlchemy, expanded for its length)
        await plain.execute(session, _FINISH_ONE, {"item_id": item_ids[0], "now": now}, autoflush=False)
    else:
        await session.execute(_FINISH_MANY, {"ids": list(item_ids), "now": now})


async def retry_later(
    session: AsyncSession, item_id: int, due_at: datetime, error: str, *, failed: bool = True
) -> None:
    """Back to pending at `due_at`. A deferral (failed=False) does not use up one of the attempts."""
    values: dict[str, Any] = {"status": PENDING, "due_at": due_at, "lease_until": None, "last_error": error[:2000]}
    if not failed:
        values["attempts"] = OutboxItem.attempts - 1
    await session.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(**values))


async def give_up(session: AsyncSession, item_id: int, now: datetime, error: str) -> None:
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status=FAILED, finished_at=now, lease_until=None, last_error=error[:2000])
    )


async def cancel_proactive(
    session: AsyncSession, customer_id: int, now: datetime, reason: str = "customer opted out"
) -> int:
    """Opt-out, or a channel that refuses the customer: drop every pending proactive row of theirs at once."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.customer_id == customer_id,
               # Proactive rows, and campaign messages already cleared (now plain sends) but not yet out.
               or_(OutboxItem.proactive.is_(True), OutboxItem.campaign_run_id.is_not(None)),
               OutboxItem.status.in_((PENDING, LEASED)))
        .values(status=CANCELLED, finished_at=now, last_error=reason)
    )  # fmt: skip
    return int(result.rowcount)  # type: ignore[attr-defined]


async def earlier_pending(session: AsyncSession, item_id: int, key_prefix: str) -> datetime | None:
    """The due time of an earlier unfinished row in the same series (same dedupe-key prefix), if any."""
    query = select(func.min(OutboxItem.due_at)).where(
        OutboxItem.dedupe_key.startswith(key_prefix, autoescape=True),
        OutboxItem.id < item_id,
        OutboxItem.status.in_((PENDING, LEASED)),
    )
    return (await session.execute(query)).scalar_one_or_none()


def backoff(attempts: int, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """5 s, 10 s, 20 s ... capped at an hour."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))
