"""Imports every model so the metadata is complete (for migrations and tests)."""

from bot.admin.models import AdminAccount, AdminSession, AuditEntry
from bot.conversations.models import ConversationRun, FlowVersion
from bot.conversations.published import FlowFileMark, FlowPublish
from bot.conversations.steplog import StepEntry
from bot.conversations.unmatched import UnmatchedMessage
from bot.customers.links import LinkCode
from bot.customers.models import ChannelIdentity, Customer, CustomerEvent
from bot.outbox.models import JobMark, OutboxItem, RateSlot
from bot.outreach.models import CampaignConfigMark, CampaignRun, CampaignVersion, DeliveryDecision
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
    "ChannelIdentity",
    "ConversationRun",
    "Customer",
    "CustomerEvent",
    "DeliveryDecision",
    "FlowFileMark",
    "FlowPublish",
    "FlowVersion",
    "JobMark",
    "LinkCode",
    "Message",
    "OutboxItem",
    "RateSlot",
    "Staff",
    "StepEntry",
    "SurveyResponse",
    "Ticket",
    "TicketEvent",
    "UnmatchedMessage",
]
