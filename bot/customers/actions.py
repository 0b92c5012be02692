"""What adapters (the CLI, the HTTP API) do with customers: each call is one unit of work, answered with a view.

Adapters parse their input, call one of these and render the answer; they open no transaction and build no query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.customers import events, importer, links, privacy, tiers
from bot.customers.models import ChannelIdentity, Customer
from bot.customers.privacy import CustomerRef
from bot.customers.views import (
    CustomerExport,
    CustomerListing,
    CustomerPage,
    CustomerProfile,
    Erasure,
    ImportOutcome,
    TierReport,
    TopCustomer,
    TopCustomers,
)
from bot.ports import Clock
from bot.storage.database import Database

T = TypeVar("T")
TOP_BY = "lifetime_value"  # what `top` ranks customers by


class CustomerActions:
    def __init__(self, db: Database, settings: Settings, clock: Clock):
        self.db = db
        self.settings = settings
        self.clock = clock

    # ---- one customer, by reference (an access or deletion request) ---------------------------

    async def profile(self, ref: CustomerRef) -> CustomerProfile | None:
        """The customer's profile and chat identities; None when there is no such customer."""
        return await self._on_customer(ref, privacy.profile)

    async def export(self, ref: CustomerRef) -> CustomerExport | None:
        """Everything stored about the customer; None when there is no such customer."""

        async def export(session: AsyncSession, customer: Customer) -> CustomerExport | None:
            return await privacy.export(session, customer.id)

        return await self._on_customer(ref, export)

    async def erase(self, ref: CustomerRef) -> Erasure | None:
        """Erase the customer and every row about them; None when there is no such customer."""

        async def erase(session: AsyncSession, customer: Customer) -> Erasure | None:
            customer_id = customer.id  # the object is gone from the session once the rows are
            rows = await privacy.delete(session, customer_id)
            return None if rows is None else Erasure(customer_id, rows)

        return await self._on_customer(ref, erase)

    async def _on_customer(
        self, ref: CustomerRef, act: Callable[[AsyncSession, Customer], Awaitable[T | None]]
    ) -> T | None:
        """`act` on the customer `ref` names, in the same transaction that finds them."""
        async with self.db.transaction() as session:
            customer = await privacy.find(session, ref)
            return None if customer is None else await act(session, customer)

    # ---- lists --------------------------------------------------------------------------------

    async def recent(self, limit: int) -> list[CustomerListing]:
        """The newest customers first, with their chats."""
        return (await self.page(limit)).rows

    async def page(self, limit: int, offset: int = 0) -> CustomerPage:
        """`limit` customers from the `offset`-th newest, with their chats, and how many there are in all."""
        async with self.db.sessions() as session:
            newest = select(Customer).order_by(Customer.id.desc()).limit(limit).offset(offset)
            found = list((await session.execute(newest)).scalars())
            total = (await session.execute(select(func.count()).select_from(Customer))).scalar_one()
            query = select(ChannelIdentity).where(ChannelIdentity.customer_id.in_([c.id for c in found]))
            chats: dict[int, list[str]] = {}
            for identity in (await session.execute(query.order_by(ChannelIdentity.id))).scalars():
                chats.setdefault(identity.customer_id, []).append(f"{identity.channel}:{identity.address}")
        rows = [CustomerListing(c.id, c.display_name, c.tier, c.subscribed, tuple(chats.get(c.id, ())), c.external_id)
                for c in found]  # fmt: skip
        return CustomerPage(rows, total)

    async def top(self, count: int) -> TopCustomers:
        """The `count` customers with the highest lifetime value, and how many customers there are."""
        zone = self.settings.business.zone
        async with self.db.transaction() as session:
            total, valued, best = await tiers.best(session, count, TOP_BY)
        now = self.clock.now()
        return TopCustomers(total, valued, [
            TopCustomer(c.id, c.external_id, c.display_name, c.tier, value,
                        tenure_days=tiers.tenure_days(c.attributes or {}, c.created_at, now, zone),
                        last_active_at=c.last_active_at or c.last_seen_at)
            for c, value in best
        ])  # fmt: skip

    async def tiers(self, *, recompute: bool = False) -> TierReport:
        """Customers per tier; with `recompute`, the tier rules applied now, and what that changed."""
        async with self.db.transaction() as session:
            rows = await session.execute(select(Customer.tier, func.count()).group_by(Customer.tier))
            before = {tier: n for tier, n in rows}
            if not recompute:
                return TierReport(before)
            return TierReport(
                before,
                await tiers.reassign(session, self.settings.tiers, self.settings.business.zone, self.clock.now()),
            )

    # ---- changes ------------------------------------------------------------------------------

    async def issue_link_code(self, ref: CustomerRef, valid_for: timedelta) -> str | None:
        """A one-time code that links a chat to the customer (an id, or an external id); None when there is no such
        customer."""
        async with self.db.transaction() as session:
            customer = await privacy.find(session, ref)
            if customer is None:
                return None
            return await links.issue(session, customer.id, self.clock.now(), valid_for)

    async def record_events(self, body: Any) -> list[events.Outcome]:
        """CRM events from a JSON body (one event, or a list), all in one transaction.

        Raises EventErrors (nothing recorded) for a bad event or a total out of range, EventConflict for an event
        at odds with what is stored. In a list, an event_id that is another customer's is a Conflict in the answer,
        and the rest is recorded."""
        parsed = events.parse_body(body, self.settings.business.default_region)
        async with self.db.transaction() as session:
            return await events.record_all(session, self.settings.tiers, parsed, self.clock.now(),
                                           indexed=isinstance(body, list))  # fmt: skip

    async def import_csv(
        self, path: Path, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
    ) -> ImportOutcome:
        """Import a CSV file (raises ImportFileError when it cannot be read); tiers are recomputed when it changed
        customers. `progress` gets the number of rows done."""
        now = self.clock.now()
        report = await importer.import_csv(self.db, self.settings, path, now, dry_run=dry_run, progress=progress)
        if dry_run or not (report.created or report.updated):
            return ImportOutcome(report, None)
        async with self.db.transaction() as session:
            return ImportOutcome(
                report, await tiers.recompute(session, self.settings.tiers, self.settings.business.zone, now)
            )
