"""The one queue for work done later: rows with a due time and a dedupe key, claimed with leases, carried out
by the dispatcher through the handlers that features register for their kinds. Imports no feature."""

from bot.outbox.claims import Claimed
from bot.outbox.kinds import Handler, KindTable, OutboxKind
from bot.outbox.rows import (
    SEND,
    backoff,
    become_sends,
    cancel_proactive,
    claim_due,
    earlier_pending,
    enqueue,
    enqueue_send,
    finish,
    finish_many,
    first_unsent_sends,
    give_up,
    postpone_many,
    renew,
    renew_many,
    retry_later,
    send_payload,
    skip,
    skip_many,
)

__all__ = [
    "SEND",
    "Claimed",
    "Handler",
    "KindTable",
    "OutboxKind",
    "backoff",
    "become_sends",
    "cancel_proactive",
    "claim_due",
    "earlier_pending",
    "enqueue",
    "enqueue_send",
    "finish",
    "finish_many",
    "first_unsent_sends",
    "give_up",
    "postpone_many",
    "renew",
    "renew_many",
    "retry_later",
    "send_payload",
    "skip",
    "skip_many",
]
