"""Pure translation between Telegram objects and the core's vocabulary (no network, easy to test)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, Message, Update

from bot.messages import Inbound, Media, Reply

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CALLBACK_LIMIT = 64  # bytes of callback data Telegram accepts
# Media we keep as an attachment (file id) versus media we only acknowledge politely.
KEPT_MEDIA = ("photo", "document", "video")


def message_to_inbound(update: Update) -> Inbound | None:
    """A new message from a private chat, as an Inbound; None for anything that is not one."""
    message = update.message
    if message is None or message.chat is None:
        return None
    user = message.from_user
    text = message.text or message.caption
    payload = None
    if message.text and message.text.startswith("/start "):
        payload = message.text.split(maxsplit=1)[1].strip()[:64] or None
        text = "/start"
    return Inbound(
        channel=CHANNEL,
        address=str(message.chat.id),
        text=text,
        media=media_of(message),
        message_id=f"u{update.update_id}",
        display_name=user.full_name if user else None,
        language=user.language_code if user else None,
        start_payload=payload,
    )


def callback_to_inbound(update: Update) -> Inbound | None:
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return None
    user = query.from_user
    return Inbound(
        channel=CHANNEL,
        address=str(query.message.chat.id),
        choice=query.data,
        message_id=f"u{update.update_id}",
        display_name=user.full_name if user else None,
        language=user.language_code if user else None,
    )


def media_of(message: Message) -> Media | None:
    if message.photo:
        return Media("photo", message.photo[-1].file_id, message.caption or "")  # the largest size
    if message.document:
        return Media("document", message.document.file_id, message.caption or "")
    if message.video:
        return Media("video", message.video.file_id, message.caption or "")
    for kind in ("sticker", "voice", "video_note", "audio", "animation", "contact", "poll", "dice"):
        item = getattr(message, kind, None)
        if item:
            return Media(kind, getattr(item, "file_id", "") or "")
    if message.location or message.venue:
        return Media("location")
    return None


def keyboard_for(reply: Reply) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: NPS as two rows, short scales in one row, choices stacked."""
    buttons = [
        InlineKeyboardButton(b.label[:64], callback_data=b.value)
        for b in reply.buttons
        if len(b.value.encode("utf-8")) <= CALLBACK_LIMIT
    ]
    if not buttons:
        return None
    if reply.answer_kind == "nps" and len(buttons) >= 11:
        rows = [buttons[:6], buttons[6:11], *([buttons[11:]] if buttons[11:] else [])]
    elif reply.answer_kind in ("rating", "yes_no") or all(len(b.text) <= 3 for b in buttons):
        scale = [b for b in buttons if len(b.text) <= 3]
        rest = [[b] for b in buttons if len(b.text) > 3]
        rows = [scale, *rest] if scale else rest
    else:
        rows = [[b] for b in buttons]
    return InlineKeyboardMarkup(rows)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut text into pieces Telegram accepts, preferring paragraph, line and word boundaries (in that order, as long
    as the piece stays at least half the limit). Blank text gives no pieces: Telegram refuses a blank message."""
    text = (text or "").strip()
    pieces: list[str] = []
    while len(text) > limit:
        # The latest boundary of the strongest kind: max() over all kinds used to cut mid-paragraph at a space
        # even with a paragraph break a few words earlier.
        cut = next(
            (at for sep in ("\n\n", "\n", " ") if (at := text.rfind(sep, 0, limit)) >= limit // 2),
            limit,
        )
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    pieces.append(text)
    return [p for p in pieces if p]


def chosen_label(message: MaybeInaccessibleMessage | None, data: str) -> str | None:
    """The label of the pressed button, read from the message's own keyboard (none on an inaccessible message)."""
    markup = message.reply_markup if isinstance(message, Message) else None
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
