"""Imports every model so the metadata is complete (for migrations and tests)."""

from bot.admin.models import AdminAccount, AdminSession, AuditEntry
from bot.conversations.models import ConversationRun, FlowVersion
from bot.conversations.published import FlowFileMark, FlowPublish
from bot.conversations.steplog import StepEntry
from bot.conversations.unmatched import UnmatchedMessage
from bot.customers.links import LinkCode
from bot.customers.models import ChannelIdentity, Customer, CustomerEvent
from bot.incidents.models import Incident, IncidentCustomer, IncidentNotice
from bot.outbox.models import JobMark, OutboxItem, RateSlot
from bot.outreach.models import CampaignConfigMark, CampaignRun, CampaignVersion, DeliveryDecision
from bot.retention.models import Cancellation, CrosssellOffer
from bot.rewards.models import RewardCode
from bot.storage.sections import SectionConfigMark, SectionVersion
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Staff, Ticket, TicketEvent
from bot.transcript.models import Message

__all__ = [
    "AdminAccount",
    "AdminSession",
    "AuditEntry",
    "CampaignConfigMark",
    "CampaignRun",
    "CampaignVersion",
    "Cancellation",
    "ChannelIdentity",
    "ConversationRun",
    "CrosssellOffer",
    "Customer",
    "CustomerEvent",
    "DeliveryDecision",
    "FlowFileMark",
    "FlowPublish",
    "FlowVersion",
    "Incident",
    "IncidentCustomer",
    "IncidentNotice",
    "JobMark",
    "LinkCode",
    "Message",
    "OutboxItem",
    "RateSlot",
    "RewardCode",
    "SectionConfigMark",
    "SectionVersion",
    "Staff",
    "StepEntry",
    "SurveyResponse",
    "Ticket",
    "TicketEvent",
    "UnmatchedMessage",
]
