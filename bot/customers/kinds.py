"""The outbox kind the customers feature owns: an event about a customer (a CRM event, a resolved ticket).

Written by the lower layers that see the event happen; carried out by the conversations feature, whose
handler fires the flows the event triggers (registered when the core is assembled, bot/core.py).
"""

from enum import StrEnum


class CustomerKind(StrEnum):
    # Fire a conversation event (payload: event, data, interrupt).
    EVENT = "event"
