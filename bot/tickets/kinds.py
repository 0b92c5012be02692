"""The outbox kinds the tickets feature owns, carried out by its staff notices (bot/tickets/posting.py)."""

from enum import StrEnum


class TicketKind(StrEnum):
    # One notice about one ticket for the staff desk (payload: ticket_id, kind, ...).
    STAFF_NOTICE = "staff_notice"
    # One summary of folded notices for one place (bot/tickets/folding.py).
    STAFF_DIGEST = "staff_digest"
