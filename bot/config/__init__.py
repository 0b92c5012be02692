"""Settings: config.yaml plus the environment, validated into frozen, typed objects (one module per concern).

Import from here: `from bot.config import Settings, load_settings`. The modules behind it:
section (the base model, shared checks), business, conversations, tickets (with staff and routing), server,
webchat, platforms (Telegram, Slack), outreach, tiers, campaigns, reports; settings (the whole), references (checks
across sections), environment, loader.
"""

from bot.config.business import WEEKDAYS, BusinessSettings, WorkingHours
from bot.config.campaigns import Campaign, CampaignAudience, CampaignButton, cron_problem
from bot.config.conversations import ConversationSettings, FlowSettings, GlobalWords, IntentSettings, Texts
from bot.config.environment import ENV_SECRETS
from bot.config.loader import DEFAULT_CONFIG_NAME, FILE_KEYS, find_config, load_settings
from bot.config.outreach import CheckinSettings, FrequencyCap, OutreachSettings, QuietHours
from bot.config.platforms import FoldSettings, SlackSettings, TelegramSettings
from bot.config.references import known_tiers, unknown_pool, unknown_tier
from bot.config.reports import DigestSettings, ReportsSettings
from bot.config.section import HHMM, Section
from bot.config.server import (
    BODY_LIMITS_BY_PATH,
    DEFAULT_DATABASE_URL,
    MAX_BODY_LIMIT,
    BodyLimit,
    BodyPath,
    DatabaseSettings,
    ServerSettings,
)
from bot.config.settings import Secrets, Settings
from bot.config.tickets import Pool, RoutingMatch, RoutingRule, RoutingSettings, StaffMember, TicketSettings
from bot.config.tiers import TierRule, TierSettings
from bot.config.webchat import FRAME_ORIGIN, PER_SECONDS, RateLimit, WebchatRateLimits, WebchatSettings

__all__ = [
    "BODY_LIMITS_BY_PATH",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_DATABASE_URL",
    "ENV_SECRETS",
    "FILE_KEYS",
    "FRAME_ORIGIN",
    "HHMM",
    "MAX_BODY_LIMIT",
    "PER_SECONDS",
    "WEEKDAYS",
    "BodyLimit",
    "BodyPath",
    "BusinessSettings",
    "Campaign",
    "CampaignAudience",
    "CampaignButton",
    "CheckinSettings",
    "ConversationSettings",
    "DatabaseSettings",
    "DigestSettings",
    "FlowSettings",
    "FoldSettings",
    "FrequencyCap",
    "GlobalWords",
    "IntentSettings",
    "OutreachSettings",
    "Pool",
    "QuietHours",
    "RateLimit",
    "ReportsSettings",
    "RoutingMatch",
    "RoutingRule",
    "RoutingSettings",
    "Secrets",
    "Section",
    "ServerSettings",
    "Settings",
    "SlackSettings",
    "StaffMember",
    "TelegramSettings",
    "Texts",
    "TicketSettings",
    "TierRule",
    "TierSettings",
    "WebchatRateLimits",
    "WebchatSettings",
    "WorkingHours",
    "cron_problem",
    "find_config",
    "known_tiers",
    "load_settings",
    "unknown_pool",
    "unknown_tier",
]
