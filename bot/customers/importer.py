"""Customer CSV import: validate every row, upsert the good ones by external_id in batches, report the bad.

Idempotent: the same file twice changes nothing the second time. Empty cells are never written and
attributes the file does not mention are kept. A customer who opted out in chat is never
re-subscribed by a file: their own choice wins.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.customers import profile, storable
from bot.customers.models import ChannelIdentity, Customer
from bot.customers.profile import FieldError, ProfileChange
from bot.storage.database import Database

BATCH_ROWS = 1000
# Columns with a meaning of their own; every other column becomes an attribute.
PROFILE_COLUMNS = ("display_name", "email", "phone", "language", "timezone")
SPECIAL_COLUMNS = frozenset({"external_id", "name", *PROFILE_COLUMNS, "telegram_chat_id", "subscribed",
                             "customer_since", "lifetime_value"})  # fmt: skip
# The columns an import reads and may write (a row's current state, to compare against).
STORED = (Customer.id, Customer.external_id, *(getattr(Customer, c) for c in PROFILE_COLUMNS),
          Customer.subscribed, Customer.opted_out_at, Customer.attributes)  # fmt: skip


class ImportFileError(Exception):
    """The file cannot be imported at all (unreadable, not UTF-8, no external_id column)."""


@dataclass(frozen=True)
class Row:
    line: int
    external_id: str
    change: ProfileChange
    telegram_chat_id: str | None


@dataclass(frozen=True)
class BadRow:
    line: int
    problems: tuple[str, ...]  # "email: "x@" is not an email address"


@dataclass
class ImportReport:
    path: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[BadRow] = field(default_factory=list)
    # Rows asking to subscribe a customer who opted out in chat: left unsubscribed.
    kept_opted_out: int = 0
    identities_added: int = 0
    ignored_columns: list[int] = field(default_factory=list)  # 1-based positions of columns without a header

    def problem_lines(self) -> Iterator[str]:
        for row in self.bad:
            for problem in row.problems:
                yield f"{self.path}:{row.line}: {problem}"


@dataclass(frozen=True)
class Header:
    columns: tuple[str, ...]  # normalised names; "" for a column without a header
    original: dict[str, str]  # normalised -> as written, for error messages


def normalise(name: str) -> str:
    """ "Plan Name " -> "plan_name": attribute names that flow templates can use."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(
            f'{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as "CSV UTF-8"'
        ) from None


def delimiter_of(first_line: str) -> str:
    """Comma, or the semicolon or tab some spreadsheets write, whichever the header line uses most."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_header(cells: Sequence[str], path: str) -> Header:
    columns = tuple(normalise(c) for c in cells)
    original = {n: storable.clean_text(c.strip()) for n, c in zip(columns, cells, strict=True) if n}
    seen: set[str] = set()
    for name in columns:
        if name and name in seen:
            raise ImportFileError(f'{path}:1: the column "{original[name]}" appears twice in the header')
        seen.add(name)
    if "external_id" not in seen:
        found = ", ".join(original.values()) or "nothing"
        raise ImportFileError(f"{path}:1: the header has no external_id column (it has: {found})")
    if "name" in seen and "display_name" in seen:
        raise ImportFileError(f"{path}:1: the header has both name and display_name; keep one")
    return Header(columns, original)


def read_rows(text: str, path: str, region: str, report: ImportReport) -> Iterator[Row]:
    """Good rows, in file order; bad rows go to `report.bad`. Raises ImportFileError for the file as a whole."""
    if not text.strip():
        raise ImportFileError(f"{path}: the file is empty; the first line must be a header with external_id")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text.partition("\n")[0]))
    try:
        header = read_header(next(reader), path)
        report.ignored_columns = [i + 1 for i, name in enumerate(header.columns) if not name]
        first_line: dict[str, int] = {}  # external_id -> its line
        first_chat: dict[str, int] = {}  # telegram_chat_id -> its line
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            if not any(c.strip() for c in cells):
                continue
            report.rows += 1
            try:
                row = read_row(header, cells, line, region)
            except RowError as exc:
                report.bad.append(BadRow(line, tuple(exc.problems)))
                continue
            duplicates = []
            if row.external_id in first_line:
                duplicates.append(f"external_id: {profile.quoted(row.external_id)} is also on line "
                                  f"{first_line[row.external_id]}")  # fmt: skip
            if row.telegram_chat_id and row.telegram_chat_id in first_chat:
                duplicates.append(f"telegram_chat_id: {row.telegram_chat_id} is also on line "
                                  f"{first_chat[row.telegram_chat_id]}")  # fmt: skip
            first_line.setdefault(row.external_id, line)
            if row.telegram_chat_id:
                first_chat.setdefault(row.telegram_chat_id, line)
            if duplicates:
                report.bad.append(BadRow(line, tuple(duplicates)))
                continue
            yield row
    except csv.Error as exc:
        raise ImportFileError(f"{path}:{reader.line_num}: cannot read this as CSV: {exc}") from None


class RowError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems


def read_row(header: Header, cells: Sequence[str], line: int, region: str) -> Row:
    """One record -> Row, or RowError listing every bad field of it."""
    if len(cells) > len(header.columns):
        raise RowError([f"this row has {len(cells)} cells but the header has {len(header.columns)} "
                        "(a value with a comma in it needs double quotes)"])  # fmt: skip
    values = {name: cell.strip() for name, cell in zip(header.columns, cells, strict=False) if name}
    # First, and alone: no database stores these, and every other check would quote them back.
    unstorable = [f"{header.original[c]}: {p}" for c, v in values.items() if (p := storable.text_problem(v))]
    if unstorable:
        raise RowError(unstorable)
    if "name" in values:
        values["display_name"] = values.pop("name")
    names = {c: header.original.get(c, c) for c in PROFILE_COLUMNS}
    names["display_name"] = header.original.get("display_name") or header.original.get("name", "name")
    problems: list[str] = []
    ext = ""
    try:
        ext = profile.external_id(values.get("external_id", ""))
    except FieldError as exc:
        problems.append(str(exc))
    change, errors = profile.read_profile(values, region, names)
    problems += [str(e) for e in errors]
    chat = None
    if values.get("telegram_chat_id"):
        try:
            chat = profile.telegram_chat_id(values["telegram_chat_id"])
        except ValueError as exc:
            problems.append(f"{header.original['telegram_chat_id']}: {exc}")
    readers: dict[str, Callable[[str], Any]] = {"subscribed": profile.boolean, "customer_since": profile.iso_date,
                                                **dict.fromkeys(profile.TOTALS, profile.number)}  # fmt: skip
    for column, value in values.items():
        if not value or column in SPECIAL_COLUMNS - readers.keys():
            continue
        read = readers.get(column, profile.attribute_value)
        try:
            parsed = read(value)
        except ValueError as exc:
            problems.append(f"{header.original[column]}: {exc}")
            continue
        if column == "subscribed":
            change.subscribed = parsed
        else:
            change.attributes[column] = parsed
    if problems:
        raise RowError(problems)
    return Row(line, ext, change, chat)


async def import_csv(
    db: Database, settings: Settings, path: Path, now: datetime, *, dry_run: bool = False,
    batch_rows: int = BATCH_ROWS, progress: Callable[[int], None] | None = None,
) -> ImportReport:  # fmt: skip
    """Import `path`. Each batch of rows is one transaction; `progress` gets the number of rows done."""
    name = str(path)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot read the file: {exc.strerror or exc}") from None
    report = ImportReport(name, dry_run=dry_run)
    batch: list[Row] = []
    for row in read_rows(decode(data, name), name, settings.business.default_region, report):
        batch.append(row)
        if len(batch) >= batch_rows:
            await _import_batch(db, settings.tiers.default, batch, now, report)
            batch = []
            if progress:
                progress(report.rows)
    if batch:
        await _import_batch(db, settings.tiers.default, batch, now, report)
    if progress:
        progress(report.rows)
    return report


@dataclass
class _Plan:
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    identities: list[tuple[str, str]] = field(default_factory=list)  # (external_id, chat id)


async def _import_batch(db: Database, default_tier: str, rows: list[Row], now: datetime, report: ImportReport) -> None:
    async with db.transaction() as session:
        if db.is_postgres:
            # The lookups are prepared statements with 1,000 parameters: after five runs PostgreSQL may switch
            # to a generic plan that scans the table (10x slower here); plan each batch for its own values.
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        plan = await _plan(session, rows, now, report, default_tier, lock=not report.dry_run)
        if not report.dry_run:
            await _write(session, plan, now)


async def _plan(
    session: AsyncSession, rows: list[Row], now: datetime, report: ImportReport, default_tier: str, *, lock: bool
) -> _Plan:
    """Compare the batch with what is stored (three queries at most) and decide each row."""
    stored = await _stored(session, Customer.external_id.in_([r.external_id for r in rows]), lock)
    existing = {r["external_id"]: r for r in stored}
    chats = [r.telegram_chat_id for r in rows if r.telegram_chat_id]
    owners: dict[str, tuple[int, str | None]] = {}
    if chats:
        owned = select(ChannelIdentity.address, Customer.id, Customer.external_id).join(
            Customer, Customer.id == ChannelIdentity.customer_id
        ).where(ChannelIdentity.channel == profile.TELEGRAM, ChannelIdentity.address.in_(chats))  # fmt: skip
        owners = {address: (cid, ext) for address, cid, ext in await session.execute(owned)}
    # Customers who wrote to the bot before the CRM knew them: the import gives them their external_id.
    unclaimed = [owners[r.telegram_chat_id][0] for r in rows if r.telegram_chat_id in owners
                 and owners[r.telegram_chat_id][1] is None and r.external_id not in existing]  # fmt: skip
    adoptable: dict[int, dict[str, Any]] = {}
    if unclaimed:
        adoptable = {r["id"]: r for r in await _stored(session, Customer.id.in_(unclaimed), lock)}
    plan = _Plan()
    for row in rows:
        current = existing.get(row.external_id)
        owner = owners.get(row.telegram_chat_id) if row.telegram_chat_id else None
        if current is None and owner is not None and owner[0] in adoptable:
            current = {**adoptable.pop(owner[0]), "external_id": None}
        if owner is not None and (current is None or owner[0] != current["id"]):
            who = f"customer #{owner[0]}" + (f" (external_id {profile.quoted(owner[1])})" if owner[1] else "")
            report.bad.append(BadRow(row.line, (f"telegram_chat_id: {row.telegram_chat_id} already belongs to {who}",)))
            continue
        new_identity = row.telegram_chat_id is not None and owner is None
        if new_identity:
            plan.identities.append((row.external_id, row.telegram_chat_id))  # type: ignore[arg-type]
        if current is None:
            report.created += 1
            plan.creates.append(_new_customer(row, now, default_tier))
            continue
        applied = profile.apply(current, row.change)
        report.kept_opted_out += applied.kept_opted_out
        if current["external_id"] is None:
            applied.changed["external_id"] = row.external_id
        if applied.changed:
            plan.updates.append({"id": current["id"], **applied.changed})
        if applied.changed or new_identity:
            report.updated += 1
        else:
            report.unchanged += 1
    report.identities_added += len(plan.identities)
    return plan


async def _stored(session: AsyncSession, where: Any, lock: bool) -> list[dict[str, Any]]:
    """The stored columns of the matching customers. Locked until the batch commits: a chat turn (an
    opt-out, a flow setting an attribute) waits instead of being overwritten by values read before it."""
    query = select(*STORED).where(where)
    rows = [dict(r._mapping) for r in await session.execute(query.with_for_update() if lock else query)]
    for row in rows:  # stored before the input checks: merged clean, and written clean with the next change
        row["attributes"] = storable.attributes_of(row["attributes"])
    return rows


def _new_customer(row: Row, now: datetime, tier: str) -> dict[str, Any]:
    """Every column given, so one multi-row INSERT takes the whole batch."""
    values = {c: row.change.columns.get(c) for c in PROFILE_COLUMNS}
    subscribed = True if row.change.subscribed is None else row.change.subscribed
    return {**values, "external_id": row.external_id, "subscribed": subscribed, "tier": tier,
            "attributes": profile.merge_attributes({}, row.change.attributes), "tags": [], "unreachable": False,
            "created_at": now}  # fmt: skip


async def _write(session: AsyncSession, plan: _Plan, now: datetime) -> None:
    ids: dict[str, int] = {}
    if plan.creates:
        table = Customer.__table__
        result = await session.execute(insert(table).returning(table.c.id, table.c.external_id), plan.creates)
        ids = {ext: cid for cid, ext in result}
    # UPDATE ... WHERE id = :id, one executemany per set of changed columns.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in plan.updates:
        groups.setdefault(tuple(sorted(values)), []).append(values)
    for params in groups.values():
        await session.execute(update(Customer), params)
    if plan.identities:
        known = await _ids_of(session, [ext for ext, _ in plan.identities if ext not in ids])
        ids.update(known)
        await session.execute(insert(ChannelIdentity.__table__), [
            {"customer_id": ids[ext], "channel": profile.TELEGRAM, "address": chat, "created_at": now}
            for ext, chat in plan.identities
        ])  # fmt: skip


async def _ids_of(session: AsyncSession, external_ids: list[str]) -> dict[str, int]:
    if not external_ids:
        return {}
    query = select(Customer.external_id, Customer.id).where(Customer.external_id.in_(external_ids))
    return {ext: cid for ext, cid in await session.execute(query)}
