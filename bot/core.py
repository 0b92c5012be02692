"""Assembles the core from settings: database, flows, engine, dispatcher. No adapters here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import suppress
from datetime import timedelta

from bot.admin.accounts import AdminAccounts
from bot.admin.campaigns import CampaignConsole
from bot.admin.flows import FlowConsole
from bot.admin.playbook import PlaybookConsole
from bot.admin.preview import Previews
from bot.config import Settings
from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.conversations import kinds as conversation_kinds
from bot.conversations.engine import ConversationEngine
from bot.conversations.flowstore import FlowStore
from bot.conversations.registry import FlowRegistry
from bot.conversations.reload import watch_flows
from bot.customers import records as customers
from bot.customers.actions import CustomerActions
from bot.incidents.actions import IncidentActions
from bot.incidents.complaints import ComplaintAnswers
from bot.incidents.notices import IncidentNotices
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.leader import Leadership
from bot.outbox.ratelimit import SharedRateLimiter
from bot.outreach.campaigns import kinds as campaign_kinds
from bot.outreach.campaigns.actions import CampaignActions
from bot.outreach.campaigns.store import CampaignStore, ConfigSync
from bot.outreach.delivery import policy
from bot.outreach.delivery.clearing import Clearing
from bot.outreach.planning_jobs import PlanningJobs
from bot.outreach.scheduler import Scheduler
from bot.ports import Channel, Clock, SystemClock
from bot.reports import Reports
from bot.reports.digest import ReportsDesk, WeeklyDigests
from bot.retention import kinds as retention_kinds
from bot.retention.jobs import RetentionJobs
from bot.rewards.actions import RewardActions
from bot.rewards.alerts import StaffAlerts
from bot.storage.database import Database
from bot.storage.sections import SectionStore
from bot.storage.versioned import ConfigSync as SectionSync
from bot.storage.versions import highest_ids
from bot.surveys.results import SurveyResults
from bot.tickets import directory, sla
from bot.tickets.lifecycle import TicketActions
from bot.tickets.posting import StaffNotices
from bot.tickets.queries import TicketQueries
from bot.tickets.staffdesk import StaffDesk
from bot.transcript import Transcripts
from bot.yamlsource import Problem

log = logging.getLogger(__name__)
# How often instances look for leadership work; a dead leader is replaced within about this long.
LEADER_CHECK_SECONDS = 30
# How often an instance looks for flows, campaigns and sections saved elsewhere (the console on another instance): a
# save is in force everywhere within about this long. One statement of three indexed max() per tick.
FLOW_POLL_SECONDS = 2
# A background job waits at most this long for a moment without customers' messages under way (bot/inflight.py).
QUIET_WAIT_SECONDS = 0.25
CAMPAIGN_JOBS = "campaign:"  # the prefix of the scheduler's cron jobs of campaigns


def proactive_rates(settings: Settings) -> dict[str, float]:
    """Sends per second the dispatcher may use per channel, all instances together: a share of the
    channel's limit, so replies to customers who are chatting always have room."""
    return {"telegram": settings.telegram.max_per_second * settings.outreach.broadcast_share}


class Core:
    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, channels: Mapping[str, Channel] | None = None
    ):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database.url)
        self.registry = FlowRegistry(settings.flows_dir)
        self.flowstore = FlowStore(self.db, self.clock)
        self._published_seen: int | None = None
        self.campaign_store = CampaignStore(self.db, self.clock)
        self._campaigns_seen: int | None = None
        self.campaign_sync = ConfigSync()  # what the import of config.yaml did at start (its refusals are shown)
        self.section_store = SectionStore(self.db, self.clock)
        self._sections_seen: int | None = None
        self.section_sync = SectionSync()  # the same for the playbook's sections
        self.flow_problems: list[Problem] = []
        self.engine = ConversationEngine(self.db, self.registry, settings, self.clock)
        self.channels: dict[str, Channel] = dict(channels or {})
        self.rate_limiter = SharedRateLimiter(self.db, proactive_rates(settings))
        self.dispatcher = Dispatcher(self.db, self.channels, settings.outreach, self.clock, self.rate_limiter)
        self.staff_notices = StaffNotices(self.db, settings, self.clock)
        self.reports = Reports(self.db, settings, self.clock)
        self.weekly_digests = WeeklyDigests(self.db, settings, self.clock, self.reports)
        self.staff_alerts = StaffAlerts(settings)
        self.incident_notices = IncidentNotices(self.db, settings, self.clock)
        self._register_outbox_work()
        self.leadership = Leadership(self.db)
        self.planning = PlanningJobs(self.db, settings, self.clock, self.leadership)
        self.retention = RetentionJobs(self.db, settings, self.clock, self.leadership)
        self.deliveries = self.dispatcher.deliveries
        self.deliveries.in_flight = self.engine.in_flight  # answering a message ends with its replies sent
        # The services adapters call: each call is one unit of work (adapters open no transaction).
        self.tickets = TicketActions(self.db, settings, self.clock)
        self.ticket_queries = TicketQueries(self.db, settings, self.clock)
        self.customers = CustomerActions(self.db, settings, self.clock)
        self.campaigns = CampaignActions(self.db, settings, self.registry, self.clock)
        self.rewards = RewardActions(self.db, settings, self.clock)
        self.incidents = IncidentActions(self.db, settings, self.clock)
        self.engine.runner.complaint_hooks.append(ComplaintAnswers(settings).answer_complaint)
        self.surveys = SurveyResults(self.db)
        self.transcripts = Transcripts(self.db)
        # The admin console's services (handlers/admin/).
        self.admin_accounts = AdminAccounts(self.db, self.clock)
        self.flow_console = FlowConsole(self.db, self.registry, self.flowstore, self.clock,
                                        lambda: self.load_flows(import_files=False), settings)  # fmt: skip
        reload_campaigns = lambda: self.load_campaigns(import_config=False)  # noqa: E731
        self.campaign_console = CampaignConsole(self.db, settings, self.registry, self.campaign_store, self.campaigns,
                                                self.clock, reload_campaigns)  # fmt: skip
        reload_sections = lambda: self.load_sections(import_config=False)  # noqa: E731
        self.playbook_console = PlaybookConsole(self.db, settings, self.registry, self.section_store, self.clock,
                                                reload_sections)  # fmt: skip
        self.previews = Previews(settings, self.registry, self.clock)
        self.scheduler = Scheduler(gate=lambda: self.engine.in_flight.quiet(QUIET_WAIT_SECONDS))
        self._background = False
        self._stop_watch = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None

    async def prepare(self) -> list[Problem]:
        """Migrate the database and load flows; returns flow problems (valid flows still load)."""
        await self.prepare_storage()
        return await self.load_flows(import_files=True)

    async def load_flows(self, *, import_files: bool) -> list[Problem]:
        """Bring the flows in force up to date: import edited files into the flow store (by its fast-forward rule,
        bot/conversations/flowstore.py), then serve the files overlaid with the published heads they do not hold."""
        problems: list[Problem] = []
        if import_files and self.registry.directory.is_dir():
            found, problems = self.registry.read_folder()
            synced = await self.flowstore.sync_files(found.values(), self.registry.directory)
            for conflict in synced.conflicts:
                log.error("flow file refused: %s", conflict)
            problems += synced.conflicts
        self._published_seen = await self.flowstore.latest_id()
        overlay = await self.flowstore.overlay()
        retired = {str(self.registry.directory / name) for name in await self.flowstore.retired_files()}
        self.registry.set_published(
            {str(self.registry.directory / name): p.source for name, p in overlay.items()}, retired
        )
        loaded = self.registry.load()
        problems += [p for p in loaded if p not in problems]
        if import_files:
            self.flow_problems = problems  # what the console's flow list shows: refused files, at their lines
        return problems

    async def poll_saved(self) -> None:
        """Put in force what another instance (or the console) published or saved since the last look: flows,
        campaigns, playbook sections. Every instance looks every FLOW_POLL_SECONDS while it serves customers, so
        the look is one statement for the three (on PostgreSQL one round trip, where a session each took nine)."""
        published, campaigns, sections = await highest_ids(
            self.db, self.flowstore.poll_column, self.campaign_store.poll_column, self.section_store.poll_column
        )
        if published != self._published_seen:
            problems = await self.load_flows(import_files=False)
            if problems:
                log.error("published flows refused:\n%s", "\n".join(map(str, problems)))
        if campaigns != self._campaigns_seen:
            await self.load_campaigns(import_config=False)
        if sections != self._sections_seen:
            await self.load_sections(import_config=False)

    async def prepare_storage(self) -> None:
        """Migrate the database, sync the staff directory and import config.yaml's campaigns and playbook sections,
        without loading flows (for commands that never run a conversation: reading every flow file is most of their
        start-up time)."""
        await self.db.upgrade()
        async with self.db.transaction() as session:
            await directory.sync(session, self.settings)
        await self.load_sections(import_config=True)
        await self.load_campaigns(import_config=True)

    async def load_campaigns(self, *, import_config: bool, force: bool = False) -> None:
        """Bring the campaigns in force up to date: import config.yaml's (by the campaign store's fast-forward rule),
        then put the store's heads in force in `settings.campaigns`, which every part of the core reads."""
        if import_config:
            self.campaign_sync = await self.campaign_store.sync_config(self.settings.config_campaigns(), force=force)
        self._campaigns_seen = await self.campaign_store.latest_id()
        in_force = await self.campaign_store.in_force()
        live = self.settings.campaigns
        if live != in_force:
            # In place, in one step of the event loop: every holder of the settings sees the change at once.
            live.clear()
            live.update(in_force)
            if self._background:
                self._schedule_campaigns()

    async def load_sections(self, *, import_config: bool, force: bool = False) -> None:
        """Bring the playbook's sections in force up to date: import config.yaml's (by the settings store's
        fast-forward rule), then put each head in force in the shared settings (Settings.put_in_force), which every
        part of the core reads when it needs it: the retention jobs' intervals follow at their next tick."""
        if import_config:
            self.section_sync = await self.section_store.sync_config(self.settings.config_sections(), force=force)
        self._sections_seen = await self.section_store.latest_id()
        for name, section in (await self.section_store.in_force()).items():
            if name in PLAYBOOK_SECTIONS and getattr(self.settings, name) != section:
                self.settings.put_in_force(name, section)
                log.info("playbook section %s: the stored version is in force", name)

    def _register_outbox_work(self) -> None:
        """Each feature's outbox kinds with their handlers, the delivery policy and the unreachable hook."""
        handlers = {
            **conversation_kinds.outbox_handlers(self.engine),
            **self.staff_notices.outbox_handlers(),
            **campaign_kinds.outbox_handlers(self.engine),
            **self.weekly_digests.outbox_handlers(),
            **self.staff_alerts.outbox_handlers(),
            **self.incident_notices.outbox_handlers(),
            **retention_kinds.outbox_handlers(self.engine, self.db, self.settings, self.clock, policy.withdraw),
        }
        for kind, handler in handlers.items():
            self.dispatcher.register(kind, handler)
        lease = timedelta(seconds=self.settings.outreach.lease_seconds)
        self.dispatcher.clearing = Clearing(self.settings, self.engine, lease)
        self.dispatcher.deliveries.on_unreachable = customers.mark_unreachable

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    def set_staff_desk(self, staff_desk: StaffDesk) -> None:
        self.staff_notices.staff_desk = staff_desk

    def set_reports_desk(self, reports_desk: ReportsDesk) -> None:
        self.weekly_digests.desk = reports_desk

    async def watch_sla(self) -> int:
        """Queue SLA reminders and escalations that are due (each fires once, on any instance)."""
        async with self.db.transaction() as session:
            return await sla.watch(session, self.settings.tickets, self.clock.now())

    async def start_background(self) -> None:
        """The dispatch tick, SLA watch, campaign and tier planning, and hot reload (for `engagebot run`)."""
        cfg = self.settings.outreach
        zone = self.settings.business.zone
        self.scheduler.every(cfg.tick_seconds, self.dispatcher.drain, "outbox-dispatch")
        self.scheduler.every(self.settings.tickets.sla_check_seconds, self.watch_sla, "sla-watch")
        self.scheduler.every(self.settings.tickets.sla_check_seconds, self.incidents.remind_overdue, "incident-late")
        self._schedule_campaigns()
        self.scheduler.every(LEADER_CHECK_SECONDS, self.planning.plan_campaigns, "campaign-catch-up")
        self.scheduler.daily(cfg.tier_recompute_at, zone, self.planning.recompute_tiers, "tier-recompute")
        self.scheduler.every(LEADER_CHECK_SECONDS, self.planning.recompute_tiers, "tier-catch-up")
        self.scheduler.once_now(self.planning.plan_campaigns, "campaign-start-catch-up")
        # The retention programs (win-back, activation, cross-sell, re-survey): each checks its own interval.
        for job, name in (
            (self.retention.take_events, "retention-events"),
            (self.retention.plan_crosssell, "retention-crosssell"),
            (self.retention.plan_resurvey, "retention-resurvey"),
        ):
            self.scheduler.every(LEADER_CHECK_SECONDS, job, name)
        if self.settings.reports.digest is not None:
            # Every instance checks; the week's dedupe key makes the digest one row however many do.
            self.scheduler.every(LEADER_CHECK_SECONDS, self.weekly_digests.queue_due, "weekly-digest")
        self.scheduler.every(FLOW_POLL_SECONDS, self.poll_saved, "saved-elsewhere")
        self._background = True
        self.scheduler.start()
        self.db.start_wal_checkpoints()
        # The starter flows inside the package are nobody's to edit: they are not watched.
        if self.settings.flows.hot_reload and not self.settings.uses_starter_flows and self.registry.directory.is_dir():
            reload = lambda: self.load_flows(import_files=True)  # noqa: E731
            self._watch_task = asyncio.create_task(watch_flows(self.registry, self._stop_watch, reload))

    def _schedule_campaigns(self) -> None:
        """Campaign occurrences at their cron moments (again after every change); the periodic run catches up after a
        leader dies."""
        self.scheduler.remove_group(CAMPAIGN_JOBS)
        for name, campaign in self.settings.campaigns.items():
            for tier, line in campaign.schedule.items():
                job = f"{CAMPAIGN_JOBS}{name}:{tier}"
                self.scheduler.cron(line, self.settings.business.zone, self.planning.plan_campaigns, job)

    async def close(self) -> None:
        self.scheduler.shutdown()
        await self.previews.close()
        await self.leadership.release()
        self._stop_watch.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        await self.db.dispose()
