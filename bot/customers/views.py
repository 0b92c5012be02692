"""What the core hands adapters about customers: named views, whose `to_json` is what the HTTP API answers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from bot.customers.importer import ImportReport
from bot.customers.tiers import Reassignment

# A JSON object as the HTTP API writes it; a stored row as JSON carries it (privacy.jsonable) is one: the export walks
# every table, so its rows have no fixed shape.
JsonObject = dict[str, Any]
JsonRow = JsonObject


def _as_json(view: object) -> JsonObject:
    """A view's fields by name, in the order declared; times as ISO 8601 text."""
    return {f.name: json_value(getattr(view, f.name)) for f in fields(view)}  # type: ignore[arg-type]


def json_value(value: object) -> object:
    """A stored value as JSON carries it: times as ISO 8601 text."""
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class IdentityView:
    """One chat address of a customer."""

    channel: str
    address: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class CustomerProfile:
    """The customer's row, a column a field in the table's order (a column without a field fails loudly where the
    row is read), and their chat identities."""

    id: int
    external_id: str | None
    display_name: str | None
    email: str | None
    phone: str | None
    language: str | None
    timezone: str | None
    tier: str
    attributes: dict[str, Any]
    tags: list[str]
    subscribed: bool
    opted_out_at: datetime | None
    unreachable: bool
    created_at: datetime
    last_seen_at: datetime | None
    last_active_at: datetime | None
    tier_updated_at: datetime | None
    identities: tuple[IdentityView, ...]

    def to_json(self) -> JsonObject:
        return _as_json(self) | {"identities": [_as_json(i) for i in self.identities]}


@dataclass(frozen=True)
class CustomerExport:
    """Everything stored about a customer (an access request): the profile row, and the rows of every table that
    holds customer data by table name, a child table's rows nested in their parent row (a ticket's ticket_events)."""

    customer: JsonRow
    tables: dict[str, list[JsonRow]]

    def to_json(self) -> JsonObject:
        return {"customer": self.customer, **self.tables}


@dataclass(frozen=True)
class Erasure:
    """A deletion request done: the customer, and how many rows went from each table."""

    customer_id: int
    rows: dict[str, int]

    def to_json(self) -> JsonObject:
        return {"deleted": self.customer_id, "rows": self.rows}


@dataclass(frozen=True)
class CustomerListing:
    """A line of the customer list: who, their tier and consent, and their chats as channel:address."""

    id: int
    display_name: str | None
    tier: str
    subscribed: bool
    channels: tuple[str, ...]
    external_id: str | None = None


@dataclass(frozen=True)
class CustomerPage:
    """Some lines of the customer list, newest first, and how many customers there are in all."""

    rows: list[CustomerListing]
    total: int


@dataclass(frozen=True)
class TopCustomer:
    id: int
    external_id: str | None
    display_name: str | None
    tier: str
    lifetime_value: float
    tenure_days: int
    last_active_at: datetime | None  # any activity, else the last chat message


@dataclass(frozen=True)
class TopCustomers:
    total: int  # customers in all, with a value or not
    valued: int  # customers with a lifetime value
    best: list[TopCustomer]


@dataclass(frozen=True)
class TierReport:
    """Customers per tier, and with a recompute, what it changed."""

    before: dict[str, int]
    reassignment: Reassignment | None = None

    @property
    def after(self) -> dict[str, int]:
        return self.reassignment.counts if self.reassignment is not None else self.before


@dataclass(frozen=True)
class ImportOutcome:
    """An import's report, and customers per tier after the recompute that follows a change (None: none ran)."""

    report: ImportReport
    tiers: dict[str, int] | None
