"""Imports every model so the metadata is complete (for migrations and tests)."""

from bot.conversations.models import ConversationRun, FlowVersion, Message
from bot.customers.links import LinkCode
from bot.customers.models import ChannelIdentity, Customer
from bot.outreach.models import OutboxItem
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Staff, Ticket, TicketEvent

__all__ = [
    "ChannelIdentity",
    "ConversationRun",
    "Customer",
    "FlowVersion",
    "LinkCode",
    "Message",
    "OutboxItem",
    "Staff",
    "SurveyResponse",
    "Ticket",
    "TicketEvent",
]
