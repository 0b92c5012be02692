"""The transcript: what was said both ways, written in one place for every writer and read back by the web chat,
the hand-off and the duplicate check. Below tickets and conversations, above customers."""

from bot.transcript.models import INBOUND, OUTBOUND, Message
from bot.transcript.reads import (
    TranscriptEntry,
    Transcripts,
    already_stored,
    latest,
    messages_after,
    offered_button,
)
from bot.transcript.writes import (
    MAX_STORED_TEXT,
    Outbound,
    inbound_row,
    outbound_rows,
    record_inbound,
    record_outbound,
    record_outbound_many,
)

__all__ = [
    "INBOUND",
    "MAX_STORED_TEXT",
    "OUTBOUND",
    "Message",
    "Outbound",
    "TranscriptEntry",
    "Transcripts",
    "already_stored",
    "inbound_row",
    "latest",
    "messages_after",
    "offered_button",
    "outbound_rows",
    "record_inbound",
    "record_outbound",
    "record_outbound_many",
]
