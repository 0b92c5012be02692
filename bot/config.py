"""Settings: config.yaml plus the environment, validated into frozen, typed objects."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from bot.yamlsource import (
    Problem,
    SourceError,
    YamlDocument,
    did_you_mean,
    model_fields_of,
    parse_yaml,
    validation_problems,
)

DEFAULT_CONFIG_NAME = "config.yaml"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///engagebot.db"
MAX_BODY_LIMIT = 64 * 1024 * 1024  # no request body limit may be set above this (bytes)
BODY_LIMITS_BY_PATH = {"/chat": 64 * 1024}  # built-in server.max_body_bytes_by_path
BodyLimit = Annotated[int, Field(ge=1024, le=MAX_BODY_LIMIT)]
BodyPath = Annotated[str, Field(pattern=r"^/[!-~]*$", max_length=200)]  # a path prefix: printable ASCII, no spaces


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessSettings(Section):
    name: str = "Our team"
    timezone: str = "UTC"
    # Region used to read phone numbers written without a country code (ISO 3166 alpha-2).
    default_region: str = "US"
    # Read ambiguous dates like 03/04 as day first (3 April) or month first (March 4).
    dayfirst: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value


class FlowSettings(Section):
    dir: str = "flows"
    hot_reload: bool = True


class GlobalWords(Section):
    """Words that work anywhere in a conversation, matched fuzzily on the whole message."""

    menu: tuple[str, ...] = ("help", "menu", "/help", "/menu", "options", "main menu")
    cancel: tuple[str, ...] = ("cancel", "/cancel", "never mind", "nevermind", "quit", "stop this")
    human: tuple[str, ...] = (
        "human", "agent", "operator", "person", "talk to a human", "talk to a person",
        "speak to a human", "real person", "representative", "/human",
    )  # fmt: skip
    stop: tuple[str, ...] = ("stop", "/stop", "unsubscribe", "opt out", "opt-out", "stop messages")
    resubscribe: tuple[str, ...] = ("subscribe", "/subscribe", "resubscribe", "start messages")


class ConversationSettings(Section):
    max_retries: int = Field(2, ge=0, le=10)
    max_text_length: int = Field(4096, ge=16, le=65536)
    # A flow interrupted (e.g. by a complaint) is resumed afterwards if it is younger than this.
    resume_within_hours: float = Field(24, gt=0)
    global_words: GlobalWords = GlobalWords()
    # The flow the "stop" words start (it confirms, then unsubscribes); empty: unsubscribe at once.
    stop_flow: str = "opt_out"
    # The flow started by "talk to a human"; empty: open a hand-off ticket directly.
    human_flow: str = ""


class IntentSettings(Section):
    # 0-100 rapidfuzz WRatio scores.
    threshold: float = Field(82, ge=0, le=100)
    # Higher bar for intents that may interrupt a flow in progress (a complaint mid-survey).
    interrupt_threshold: float = Field(90, ge=0, le=100)
    # A typed answer to a choice question ("verry good" -> "Very good").
    choice_threshold: float = Field(75, ge=0, le=100)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
    return value


class WorkingHours(Section):
    """When someone (or the business) works, in their own time zone."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field("17:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError(f"working hours start ({self.start}) must be before end ({self.end})")
        return self


class TicketSettings(Section):
    reference_prefix: str = "C-"
    reference_start: int = Field(1000, ge=0)
    # Hours until a first response is promised, per severity.
    first_response_hours: dict[str, float] = {"low": 24, "normal": 8, "high": 2, "critical": 1}
    resolution_hours: dict[str, float] = {"low": 120, "normal": 48, "high": 24, "critical": 8}
    # SLA hours count as calendar time, or only within business hours.
    sla_clock: Literal["calendar", "business"] = "calendar"
    business_hours: WorkingHours = WorkingHours()
    # Per customer tier, a factor on the SLA hours (core customers: half the time).
    tier_factor: dict[str, float] = {"core": 0.5}
    # The assignee is reminded this long before a first-response or resolution deadline.
    remind_before_minutes: float = Field(30, ge=0)
    sla_check_seconds: float = Field(60, gt=0)
    # A reply with CSAT at or below this reopens the ticket to the same person.
    reopen_at_or_below: int = Field(2, ge=1, le=5)
    # A complaint from a customer who already has an open ticket is added to it, unless they say it is a different
    # problem; then it gets its own ticket, up to this many open at once (beyond, it always joins the latest).
    max_open_per_customer: int = Field(3, ge=1, le=100)


class StaffMember(Section):
    key: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$")
    name: str
    slack_user_id: str | None = None
    email: str | None = None
    # What this person handles; empty lists mean "any".
    categories: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int = Field(15, ge=0)
    working_hours: WorkingHours | None = None  # none: always available
    backup: str | None = None
    active: bool = True


class RoutingMatch(Section):
    category: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    tier: tuple[str, ...] = ()
    language: tuple[str, ...] = ()

    @field_validator("category", "severity", "tier", "language", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class RoutingRule(Section):
    match: RoutingMatch = RoutingMatch()
    to: str  # a pool name or a staff key


class Pool(Section):
    members: tuple[str, ...] = Field(min_length=1)
    strategy: Literal["round_robin", "least_loaded"] = "least_loaded"


class RoutingSettings(Section):
    rules: tuple[RoutingRule, ...] = ()
    pools: dict[str, Pool] = {}
    # A customer attribute naming their dedicated person (a staff key): they get it first.
    account_manager_attribute: str = "account_manager"
    # Otherwise the person who handled the customer's last ticket, if available.
    prefer_previous_handler: bool = True
    # The on-call lead who gets a ticket when nobody else can (a staff key).
    fallback: str | None = None


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # The public https URL, used for webhooks and printed links; empty: http://host:port.
    public_url: str = ""
    # The largest request body (bytes) any route accepts: a larger one is refused with 413 as it streams in,
    # before it is buffered (docs/operations.md, "Limits and abuse protection").
    max_body_bytes: BodyLimit = 1024 * 1024
    # Other limits by path prefix (the longest matching prefix wins), added to the built-in ones: the web chat's
    # messages are small, so /chat takes at most 64 KiB.
    max_body_bytes_by_path: dict[BodyPath, BodyLimit] = dict(BODY_LIMITS_BY_PATH)

    @field_validator("max_body_bytes_by_path")
    @classmethod
    def _keep_built_in_limits(cls, limits: dict[str, int]) -> dict[str, int]:
        # Naming one path must not lift the others' limits: what is given is added to (or replaces) the built-ins.
        return {**BODY_LIMITS_BY_PATH, **limits}


class DatabaseSettings(Section):
    # Kept out of repr: a URL may carry a password.
    url: str = Field(DEFAULT_DATABASE_URL, repr=False)


PER_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimit(Section):
    """A token bucket: up to `burst` requests at once, refilled at `rate` per `per` (20 a minute, 5 at once)."""

    rate: float = Field(gt=0)
    per: Literal["second", "minute", "hour", "day"] = "minute"
    burst: int = Field(ge=1)

    @property
    def per_seconds(self) -> float:
        return PER_SECONDS[self.per]


class WebchatRateLimits(Section):
    """Limits on the public web chat (429 with Retry-After past them). Counted in each instance's memory: several
    instances each count on their own. A limit set to null (or false) is off."""

    enabled: bool = True
    # Messages per visitor id (one browser).
    visitor_messages: RateLimit | None = RateLimit(rate=20, per="minute", burst=10)
    # Messages per client address, all its visitors together (an IPv6 client counts as its /64, and its /56 as a
    # whole at 4 times each per-address limit, so one party cannot spread over many /64s).
    address_messages: RateLimit | None = RateLimit(rate=120, per="minute", burst=60)
    # Visitor ids new to the bot per client address: what stops one address from opening tickets or answering
    # surveys as hundreds of scripted visitors. Returning visitors never count.
    new_visitors: RateLimit | None = RateLimit(rate=10, per="hour", burst=5)
    # Polls for new messages (the page polls every 3 s while open) per visitor and per client address.
    visitor_polls: RateLimit | None = RateLimit(rate=60, per="minute", burst=30)
    address_polls: RateLimit | None = RateLimit(rate=1200, per="minute", burst=300)
    # Whether private addresses (10/8, 172.16/12, 192.168/16, fc00::/7, link-local; loopback too) skip the
    # per-address limits. Off: a script elsewhere on the bot's network is limited like anyone. Turn it on only behind
    # a reverse proxy that cannot forward the client's address (X-Forwarded-For, trusted from FORWARDED_ALLOW_IPS),
    # which would otherwise make every visitor one address.
    exempt_private_addresses: bool = False
    # Addresses or networks that skip the per-address limits (the per-visitor ones still hold). By default the bot's
    # own host: an operator's curl, a same-host proxy without X-Forwarded-For, a test harness would otherwise share
    # one address's 5 new visitors, and limiting loopback stops nobody (a local script can send X-Forwarded-For,
    # which uvicorn trusts from 127.0.0.1). A list you give replaces this one: keep both in it next to, e.g., an
    # office or in-store tablets behind one NAT; [] limits loopback like anyone.
    exempt_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # Keys (visitors, addresses) each limit remembers at most; the least recently seen is forgotten first.
    max_tracked_keys: int = Field(10_000, ge=100, le=10_000_000)

    @field_validator(
        "visitor_messages", "address_messages", "new_visitors", "visitor_polls", "address_polls", mode="before"
    )
    @classmethod
    def _off(cls, value: object) -> object:
        """`false` or `off` turns a limit off, like null (YAML 1.2 reads an unquoted off as a string)."""
        return None if value is False or value == "off" else value

    @field_validator("exempt_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an address or network (e.g. 203.0.113.0/24)") from None
        return value


# An origin a page may be framed by: scheme://host[:port], the host possibly starting with "*." (CSP source syntax).
FRAME_ORIGIN = r"^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$"


class WebchatSettings(Section):
    enabled: bool = True
    title: str = "Chat with us"
    rate_limits: WebchatRateLimits = WebchatRateLimits()
    # Origins of the sites that may show the chat in a frame (https://shop.example.com); empty: only this server.
    frame_ancestors: tuple[Annotated[str, Field(pattern=FRAME_ORIGIN, max_length=200)], ...] = ()


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class QuietHours(Section):
    """Local hours (in each customer's own time zone) when proactive messages wait; may span midnight."""

    start: str = Field("21:00", pattern=HHMM)
    end: str = Field("09:00", pattern=HHMM)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end are the same time; remove quiet_hours to turn them off")
        return self


class FrequencyCap(Section):
    """At most `max_messages` proactive messages per customer in any rolling `window_days`."""

    max_messages: int = Field(3, ge=1)
    window_days: float = Field(7, gt=0)


class CheckinSettings(Section):
    """Unanswered proactive questions (check-ins, surveys started by the bot): remind, then move on."""

    remind_after_hours: float = Field(24, gt=0)
    max_reminders: int = Field(1, ge=0, le=10)
    # After this long without an answer the flow goes on without it (later check-ins still come).
    give_up_after_hours: float = Field(72, gt=0)


class OutreachSettings(Section):
    tick_seconds: float = Field(2.0, gt=0)
    batch_size: int = Field(100, ge=1, le=10000)
    lease_seconds: float = Field(120, gt=0)
    max_attempts: int = Field(8, ge=1)
    # Outbox rows one instance works on at once (different customers; one customer's rows stay in order).
    concurrency: int = Field(8, ge=1, le=256)
    # The share of each channel's overall rate limit proactive sends may use, across all instances
    # together: the rest is kept free for replies to customers who are chatting.
    broadcast_share: float = Field(0.8, gt=0, le=1)
    quiet_hours: QuietHours | None = QuietHours()
    frequency_cap: FrequencyCap | None = FrequencyCap()
    # A proactive message due while the customer is mid-conversation or has an open ticket waits this long.
    defer_minutes: float = Field(15, gt=0)
    # A campaign message still held (quiet hours, cap, busy customer) this long after it was due is skipped.
    expire_after_hours: float = Field(72, gt=0)
    checkins: CheckinSettings = CheckinSettings()
    # Time of day (business time zone) when tiers are recomputed; planning also runs after imports.
    tier_recompute_at: str = Field("03:00", pattern=HHMM)


class TierRule(Section):
    """First matching rule wins. `top_percent` ranks customers by the numeric attribute `by`."""

    tier: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$")
    top_percent: float | None = Field(None, gt=0, le=100)
    by: str = "lifetime_value"
    # A condition over the customer, e.g. "customer.tenure_days >= 365 and customer.attributes.orders > 10".
    when: str | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> TierRule:
        if self.top_percent is None and self.when is None:
            raise ValueError(f"tier rule {self.tier!r} needs top_percent or when")
        return self


class TierSettings(Section):
    default: str = Field("standard", pattern=r"^[a-z][a-z0-9_\-]*$")
    rules: tuple[TierRule, ...] = ()


class CampaignAudience(Section):
    # Empty: every tier. Opted-out and unreachable customers are never in an audience.
    tiers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # A condition over the customer, e.g. "customer.attributes.plan == 'pro'".
    when: str | None = None
    # Win-back: only customers without any activity (chat or CRM event) for this many days.
    inactive_days: float | None = Field(None, gt=0)

    @field_validator("tiers", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class CampaignButton(Section):
    label: str = Field(min_length=1, max_length=64)
    # A flow id (as in flows/*.yaml), so the button's payload always fits Telegram's 64-byte callback data.
    flow: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$", max_length=60)


class Campaign(Section):
    """A proactive message to an audience: a template to send or a flow to start, on a schedule."""

    title: str = ""
    # What it is for, shown in reports: tip, preview, report, offer, thank_you, win_back, news, survey.
    kind: Literal["tip", "preview", "report", "offer", "thank_you", "win_back", "news", "survey", "other"] = "other"
    enabled: bool = True
    audience: CampaignAudience = CampaignAudience()
    # Cron (minute hour day month weekday, business time zone) per tier; "*" for every other tier.
    schedule: dict[str, str] = {}
    # Or once, at this moment (ISO 8601 with an offset, e.g. 2026-12-01T10:00:00+01:00).
    at: datetime | None = None
    message: str | None = None
    buttons: tuple[CampaignButton, ...] = ()
    flow: str | None = None
    # Overrides outreach.expire_after_hours for this campaign.
    expire_after_hours: float | None = Field(None, gt=0)
    # A customer who got this campaign in the last N days is left out of the next occurrence
    # (a weekly win-back must not chase the same people every week). None: every occurrence.
    repeat_after_days: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _content_and_schedule(self) -> Campaign:
        if (self.message is None) == (self.flow is None):
            raise ValueError("a campaign needs exactly one of message (a template) or flow (a flow to start)")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at needs a UTC offset, e.g. 2026-12-01T10:00:00+01:00")
        for tier, cron in self.schedule.items():
            problem = cron_problem(cron)
            if problem:
                raise ValueError(f"schedule for {tier!r}: {problem}")
        return self


def cron_problem(expression: str) -> str | None:
    """None when `expression` is a valid five-field crontab line, else what is wrong."""
    from bot.crontab import cron_problem as check

    return check(expression)


class Texts(Section):
    """Everything the bot says on its own (outside flows). Jinja2 templates, sandboxed."""

    fallback: str = "Sorry, I didn't understand that. Here is what I can help with:"
    menu: str = "How can I help? Choose an option below or just type what you need."
    talk_to_human: str = "Talk to a person"
    handoff: str = (
        "I've passed this to our team (ticket {{ ticket.ref }}). "
        "A person will reply here within {{ ticket.respond_within }}."
    )
    handoff_existing: str = "I've added this to your ticket {{ ticket.ref }}. Our team will reply here."
    cancelled: str = "OK, I've stopped that."
    nothing_to_cancel: str = "There's nothing to cancel."
    too_long: str = "That message is too long ({{ length }} characters). Please keep it under {{ limit }}."
    empty: str = "I didn't catch anything there. Could you type your message?"
    unknown_command: str = "I don't know the command {{ command }}."
    unsupported_media: str = "Sorry, I can't read that kind of message here. Could you type it instead?"
    stale_button: str = "That question has already been answered."
    trouble: str = "I'm having trouble understanding. Would you like to talk to a person?"
    try_again: str = "Try again"
    skip: str = "Skip"
    resuming: str = "Now, back to where we were:"
    # Before an unanswered proactive question is asked again (outreach.checkins).
    reminder: str = "Just a reminder:"
    # An answer to a question the bot had already moved on from (it is kept, nothing is re-run).
    late_answer: str = "Thanks for letting us know, I've noted that."
    unsubscribed: str = "You won't get any more messages from us unless you write to us. Type 'subscribe' to undo."
    resubscribed: str = "Welcome back! You'll get our updates again."
    invalid_answer: dict[str, str] = {
        "text": "Please type your answer.",
        "choice": "Please choose one of the options.",
        "yes_no": "Please answer yes or no.",
        "rating": "Please give a rating from 1 to 5.",
        "nps": "Please pick a number from 0 (not at all likely) to 10 (extremely likely).",
        "number": "Please send a number.",
        "email": "That doesn't look like an email address. Could you check it?",
        "phone": "That doesn't look like a phone number. Please include the country code, e.g. +44 20 7946 0958.",
        "date": "I couldn't read that date. Try a format like 2026-03-14 or 14 March.",
        "media": "Please send a photo or file, or press Skip.",
    }


class Secrets(BaseModel):
    """Secrets come from the environment only; SecretStr keeps them out of logs and reprs."""

    model_config = ConfigDict(frozen=True)
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    api_key: SecretStr | None = None
    metrics_token: SecretStr | None = None


class TelegramSettings(Section):
    """Telegram behaviour. The token, API URL and mode come from the environment (TELEGRAM_*)."""

    api_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    # The bot is one-to-one: in a group it says so and leaves, unless this is true.
    allow_groups: bool = False
    # Sending limits Telegram tolerates: overall per second, per chat per second, per-chat burst.
    max_per_second: float = Field(30, gt=0)
    max_per_chat_per_second: float = Field(1, gt=0)
    chat_burst: int = Field(3, ge=1)
    # A 429 asking to wait at most this long is waited out in place; longer goes to the outbox.
    max_inline_retry_seconds: float = Field(10, ge=0)
    # Customers whose updates are handled at once (each customer's one after another); in webhook mode the
    # webhook's max_connections. A kill -9 can send again at most this many unconfirmed reply batches.
    concurrent_updates: int = Field(16, ge=1, le=100)


class FoldSettings(Section):
    """When many new tickets (or SLA reminders and breaches) come at once for one channel, they are summarised in
    one post, and one DM per assignee, instead of one post each (docs/slack.md, "Floods")."""

    # Up to this many such notices per channel within `window_seconds` are posted one by one; more are folded.
    max_posts: int = Field(5, ge=1, le=1000)
    window_seconds: float = Field(60, gt=0, le=86400)
    # How long the first summary of a flood collects notices before it is posted; later ones follow a window apart.
    collect_seconds: float = Field(10, ge=0, le=3600)


class SlackSettings(Section):
    api_url: str = "https://slack.com/api/"
    # Escalation channel per ticket category; "default" for the rest (channel ids or #names).
    channels: dict[str, str] = {}
    # The slash command staff use (/engage mine, /engage ticket C-1042).
    command: str = "/engage"
    # How many recent customer messages a new-ticket post shows.
    transcript_lines: int = Field(6, ge=0, le=50)
    fold: FoldSettings = FoldSettings()


class Settings(Section):
    business: BusinessSettings = BusinessSettings()
    flows: FlowSettings = FlowSettings()
    conversation: ConversationSettings = ConversationSettings()
    intents: IntentSettings = IntentSettings()
    tickets: TicketSettings = TicketSettings()
    staff: tuple[StaffMember, ...] = ()
    routing: RoutingSettings = RoutingSettings()
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    webchat: WebchatSettings = WebchatSettings()
    outreach: OutreachSettings = OutreachSettings()
    tiers: TierSettings = TierSettings()
    campaigns: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_\-]*$", max_length=100)], Campaign] = {}
    texts: Texts = Texts()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    # Filled from the environment, never from the file.
    secrets: Secrets = Field(Secrets(), exclude=True)
    # Where relative paths (flows.dir) are resolved: the config file's folder, or the cwd.
    base_dir: Path = Field(Path("."), exclude=True)
    source: str = Field("(embedded defaults)", exclude=True)

    @property
    def flows_dir(self) -> Path:
        path = Path(self.flows.dir)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def public_url(self) -> str:
        return self.server.public_url.rstrip("/") or f"http://{self.server.host}:{self.server.port}"


# Keys a config file may use (for did-you-mean); secrets are not among them, so none is ever suggested.
FILE_KEYS = model_fields_of(Settings) - model_fields_of(Secrets) - {"secrets", "base_dir", "source"}
ENV_SECRETS = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "telegram_webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "api_key": "ENGAGEBOT_API_KEY",
    "metrics_token": "ENGAGEBOT_METRICS_TOKEN",
}


def find_config(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """--config, then ENGAGEBOT_CONFIG, then ./config.yaml; None means embedded defaults."""
    if explicit:
        return Path(explicit)
    if env.get("ENGAGEBOT_CONFIG"):
        return Path(env["ENGAGEBOT_CONFIG"])
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.exists() else None


def load_settings(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raises SourceError naming the key, line and what is wrong."""
    env = os.environ if env is None else env
    path = find_config(explicit, env)
    data: dict[str, object] = {}
    source = "(embedded defaults)"
    base_dir = Path.cwd()
    doc = None
    if path is not None:
        if not path.is_file():
            raise SourceError([Problem(str(path), 1, "config file not found")])
        doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            raise SourceError([doc.problem((), "the config file must be a mapping of sections")])
        data = dict(doc.data)
        for forbidden in ("secrets", "base_dir", "source"):
            if forbidden in data:
                raise SourceError(
                    [
                        doc.problem(
                            (forbidden,), f'"{forbidden}" cannot be set in the file: secrets come from the environment'
                        )
                    ]
                )
        for loc in doc.lines:  # a secret written under a section, e.g. telegram: {telegram_bot_token: ...}
            if loc and str(loc[-1]) in ENV_SECRETS:
                message = f'"{loc[-1]}" cannot be set in the file: set {ENV_SECRETS[str(loc[-1])]} in the environment'
                raise SourceError([doc.problem(loc, message)])
        source = str(path)
        base_dir = path.resolve().parent
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        assert doc is not None
        raise SourceError(validation_problems(doc, exc, FILE_KEYS)) from None
    if doc is not None:
        problems = _staff_problems(settings, doc) + _tier_problems(settings, doc)
        if problems:
            raise SourceError(problems)
    return _apply_environment(settings, env, base_dir, source)


def _staff_problems(settings: Settings, doc: YamlDocument) -> list[Problem]:
    """Every staff key that routing names must exist: a typo would silently route nowhere."""
    problems: list[Problem] = []
    keys = [m.key for m in settings.staff]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            problems.append(doc.problem(("staff", i, "key"), f'staff key "{key}" is used twice'))
    known = set(keys)
    pools = settings.routing.pools

    def check(loc: tuple[str | int, ...], name: str | None, allow_pool: bool = False) -> None:
        if name is None or name in known or (allow_pool and name in pools):
            return
        options = known | (set(pools) if allow_pool else set())
        what = "staff key or pool" if allow_pool else "staff key"
        problems.append(doc.problem(loc, f'unknown {what} "{name}"{did_you_mean(name, options)}'))

    for i, member in enumerate(settings.staff):
        check(("staff", i, "backup"), member.backup)
    for name, pool in pools.items():
        for j, key in enumerate(pool.members):
            check(("routing", "pools", name, "members", j), key)
    for i, rule in enumerate(settings.routing.rules):
        check(("routing", "rules", i, "to"), rule.to, allow_pool=True)
    check(("routing", "fallback"), settings.routing.fallback)
    return problems


def _tier_problems(settings: Settings, doc: YamlDocument) -> list[Problem]:
    """Tier rules must parse and give each tier once; campaigns may only name tiers the rules produce."""
    from bot.templating import check_expression

    problems: list[Problem] = []
    first_rule: dict[str, int] = {}
    for i, rule in enumerate(settings.tiers.rules):
        if rule.tier in first_rule:
            line = doc.line_of(("tiers", "rules", first_rule[rule.tier], "tier"))
            message = f'tier "{rule.tier}" already has a rule (line {line}); give each tier one rule'
            problems.append(doc.problem(("tiers", "rules", i, "tier"), message))
        first_rule.setdefault(rule.tier, i)
        error = check_expression(rule.when) if rule.when is not None else None
        if error:
            problems.append(doc.problem(("tiers", "rules", i, "when"), f'tier rule "{rule.tier}": {error}'))
    tiers = {settings.tiers.default, *first_rule}

    def check(loc: tuple[str | int, ...], tier: str) -> None:
        if tier not in tiers:
            known = ", ".join(sorted(tiers))
            message = f'unknown tier "{tier}"{did_you_mean(tier, tiers)}; tiers.default and tiers.rules give: {known}'
            problems.append(doc.problem(loc, message))

    for name, campaign in settings.campaigns.items():
        for j, tier in enumerate(campaign.audience.tiers):
            check(("campaigns", name, "audience", "tiers", j), tier)
        for tier in campaign.schedule:
            if tier != "*":
                check(("campaigns", name, "schedule", tier), tier)
    return problems


def _apply_environment(settings: Settings, env: Mapping[str, str], base_dir: Path, source: str) -> Settings:
    problems: list[Problem] = []
    server = settings.server
    if env.get("ENGAGEBOT_HOST"):
        server = server.model_copy(update={"host": env["ENGAGEBOT_HOST"]})
    if env.get("ENGAGEBOT_PORT"):
        raw = env["ENGAGEBOT_PORT"]
        if raw.isdigit() and 0 <= int(raw) <= 65535:
            server = server.model_copy(update={"port": int(raw)})
        else:
            problems.append(Problem("ENGAGEBOT_PORT", 0, f"{raw!r} is not a port number (0-65535)"))
    database = settings.database
    if env.get("DATABASE_URL"):
        database = DatabaseSettings(url=env["DATABASE_URL"])
    mode = env.get("TELEGRAM_MODE") or settings.telegram.mode
    if mode not in ("polling", "webhook"):
        problems.append(Problem("TELEGRAM_MODE", 0, f"{mode!r} must be polling or webhook"))
        mode = "polling"
    secret = env.get("TELEGRAM_WEBHOOK_SECRET") or ""
    if mode == "webhook" and env.get("TELEGRAM_BOT_TOKEN") and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        problems.append(Problem("TELEGRAM_WEBHOOK_SECRET", 0, "webhook mode needs a secret of 1-256 characters "
                                "A-Z a-z 0-9 _ - (Telegram sends it back with every update)"))  # fmt: skip
    if problems:
        raise SourceError(problems)
    secrets = Secrets(**{field: env.get(var) or None for field, var in ENV_SECRETS.items()})
    telegram = settings.telegram.model_copy(
        update={"api_url": env.get("TELEGRAM_API_URL") or settings.telegram.api_url,
                "mode": mode}
    )  # fmt: skip
    slack = settings.slack.model_copy(update={"api_url": env.get("SLACK_API_URL") or settings.slack.api_url})
    return settings.model_copy(
        update={
            "server": server, "database": database, "secrets": secrets, "telegram": telegram,
            "slack": slack, "base_dir": base_dir, "source": source,
        }
    )  # fmt: skip
