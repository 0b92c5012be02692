"""CRM events: what the business's own systems tell us about a customer (signed_up, purchased, ...).

Recording one creates the customer when unknown, updates their attributes (purchased adds to
lifetime_value and orders, ...), is idempotent by event_id, and queues the event in the outbox so
flows with an `event:` trigger start (signed_up starts onboarding) under the delivery policy.

This module is their one surface; behind it, event_parsing reads a JSON body, event_effects says what an
event does to the attributes, and event_recording stores it.
"""

from bot.customers.event_effects import effects
from bot.customers.event_parsing import (
    ATTRIBUTE_NUMBERS,
    DATA_NUMBERS,
    KNOWN,
    MAX_BATCH,
    RESERVED,
    CrmEvent,
    EventErrors,
    parse_body,
    parse_event,
)
from bot.customers.event_recording import STALE_AFTER, Conflict, EventConflict, Outcome, Recorded, record, record_all

__all__ = [
    "ATTRIBUTE_NUMBERS",
    "DATA_NUMBERS",
    "KNOWN",
    "MAX_BATCH",
    "RESERVED",
    "STALE_AFTER",
    "Conflict",
    "CrmEvent",
    "EventConflict",
    "EventErrors",
    "Outcome",
    "Recorded",
    "effects",
    "parse_body",
    "parse_event",
    "record",
    "record_all",
]
