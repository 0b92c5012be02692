"""Assembles the core from settings: database, flows, engine, dispatcher. No adapters here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import suppress

from bot.config import Settings
from bot.conversations.engine import ConversationEngine
from bot.conversations.registry import FlowRegistry
from bot.conversations.reload import watch_flows
from bot.outreach.dispatcher import Dispatcher
from bot.outreach.scheduler import Scheduler
from bot.ports import Channel, Clock, StaffDesk, SystemClock
from bot.storage.database import Database
from bot.tickets import directory, sla
from bot.tickets.lifecycle import TicketActions
from bot.yamlsource import Problem

log = logging.getLogger(__name__)


class Core:
    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, channels: Mapping[str, Channel] | None = None
    ):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database.url)
        self.registry = FlowRegistry(settings.flows_dir)
        self.engine = ConversationEngine(self.db, self.registry, settings, self.clock)
        self.channels: dict[str, Channel] = dict(channels or {})
        self.dispatcher = Dispatcher(self.db, self.engine, self.channels, settings, self.clock)
        self.deliveries = self.dispatcher.deliveries
        self.tickets = TicketActions(self.db, settings, self.clock)
        self.scheduler = Scheduler()
        self._stop_watch = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None

    async def prepare(self) -> list[Problem]:
        """Migrate the database and load flows; returns flow problems (valid flows still load)."""
        await self.db.upgrade()
        async with self.db.transaction() as session:
            await directory.sync(session, self.settings)
        return self.registry.load()

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    def set_staff_desk(self, staff_desk: StaffDesk) -> None:
        self.dispatcher.staff_desk = staff_desk

    async def watch_sla(self) -> int:
        """Queue SLA reminders and escalations that are due (each fires once, on any instance)."""
        async with self.db.transaction() as session:
            return await sla.watch(session, self.settings.tickets, self.clock.now())

    async def start_background(self) -> None:
        """The dispatch tick and hot reload (for `engagebot run`)."""
        self.scheduler.every(self.settings.outreach.tick_seconds, self.dispatcher.drain, "outbox-dispatch")
        self.scheduler.every(self.settings.tickets.sla_check_seconds, self.watch_sla, "sla-watch")
        self.scheduler.start()
        if self.settings.flows.hot_reload and self.registry.directory.is_dir():
            self._watch_task = asyncio.create_task(watch_flows(self.registry, self._stop_watch))

    async def close(self) -> None:
        self.scheduler.shutdown()
        self._stop_watch.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        await self.db.dispose()
