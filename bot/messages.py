"""The core's whole I/O vocabulary: what comes in from a channel and what goes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """Where a customer can be reached: a channel name and the address on it."""

    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class Media:
    """An attachment: its kind (photo, document, voice, sticker, location, ...) and a reference."""

    kind: str
    ref: str = ""
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One customer event from a channel, already translated from the platform's shape.

    `text` is what the customer typed; `choice` is the payload of a pressed button.
    `message_id` is the platform's id, used to recognise duplicate deliveries.
    """

    channel: str
    address: str
    text: str | None = None
    choice: str | None = None
    media: Media | None = None
    message_id: str | None = None
    display_name: str | None = None
    language: str | None = None
    start_payload: str | None = None

    @property
    def ref(self) -> ChannelRef:
        return ChannelRef(self.channel, self.address)


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a reply; `value` goes back to the core as `Inbound.choice`."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to a customer. Adapters render buttons natively."""

    text: str
    buttons: tuple[Button, ...] = ()
    media: Media | None = None
    # What the buttons answer, so adapters can lay them out (e.g. NPS as two rows).
    answer_kind: str | None = None
    # The answer to a button pressed under a question that is no longer open (Telegram shows it as a notice on
    # the button, not as a message). Not stored: it only travels from the engine to the adapter in hand.
    stale: bool = field(default=False, compare=False)


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    """A JSON-safe form, for the transcript and outbox rows."""
    out: dict[str, Any] = {"text": reply.text}
    if reply.buttons:
        out["buttons"] = [{"label": b.label, "value": b.value} for b in reply.buttons]
    if reply.media:
        out["media"] = {"kind": reply.media.kind, "ref": reply.media.ref, "caption": reply.media.caption}
    if reply.answer_kind:
        out["answer_kind"] = reply.answer_kind
    return out


def reply_from_dict(data: dict[str, Any]) -> Reply:
    media = data.get("media")
    return Reply(
        text=data.get("text", ""),
        buttons=tuple(Button(b["label"], b["value"]) for b in data.get("buttons", ())),
        media=Media(media["kind"], media.get("ref", ""), media.get("caption", "")) if media else None,
        answer_kind=data.get("answer_kind"),
    )
