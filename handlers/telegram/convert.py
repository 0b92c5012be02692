"""Pure translation between Telegram objects and the core's vocabulary (no network, easy to test)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, Message, Update

from bot.messages import Inbound, Media, Reply

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CALLBACK_LIMIT = 64  # bytes of callback data Telegram accepts
# Media we keep as an attachment (file id) versus media we only acknowledge politely.
KEPT_MEDIA = ("photo", "document", "video")


# The fields of a plain text message: what most updates are. One with anything else (a photo, a reply, a forward)
# is read through python-telegram-bot's objects.
_PLAIN_MESSAGE_FIELDS = frozenset({"message_id", "from", "chat", "date", "text", "entities"})


def message_to_inbound(update: Update) -> Inbound | None:
    """A new message from a private chat, as an Inbound; None for anything that is not one."""
    message = update.message
    if message is None or message.chat is None:
        return None
    user = message.from_user
    text, payload = _start_payload(message.text) if message.text else (message.caption, None)
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


def plain_text_inbound(data: object) -> Inbound | None:
    """An update that is a plain text message in a private chat, read from the JSON as Telegram sent it, as
    `message_to_inbound` reads it; None for anything else, which python-telegram-bot's objects read. Building those
    objects (`Update.de_json`) was about 500 Python calls an update, a tenth of the bot's work per message."""
    if not isinstance(data, dict) or data.keys() != {"update_id", "message"}:
        return None
    update_id, message = data["update_id"], data["message"]
    if type(update_id) is not int or not isinstance(message, dict) or not message.keys() <= _PLAIN_MESSAGE_FIELDS:
        return None
    chat, user, text = message.get("chat"), message.get("from"), message.get("text")
    if not isinstance(chat, dict) or chat.get("type") != "private" or type(chat.get("id")) is not int:
        return None
    if not isinstance(text, str) or not text or type(message.get("message_id")) is not int:
        return None
    if type(message.get("date")) is not int or not (user is None or _is_user(user)):
        return None
    text, payload = _start_payload(text)
    return Inbound(
        channel=CHANNEL,
        address=str(chat["id"]),
        text=text,
        message_id=f"u{update_id}",
        display_name=_full_name(user["first_name"], user.get("last_name")) if user else None,
        language=user.get("language_code") if user else None,
        start_payload=payload,
    )


def _is_user(user: object) -> bool:
    return (
        isinstance(user, dict) and isinstance(user.get("first_name"), str) and type(user.get("id")) is int
        and isinstance(user.get("last_name", ""), str) and isinstance(user.get("language_code", ""), str)
    )  # fmt: skip


def _full_name(first: str, last: str | None) -> str:
    return f"{first} {last}" if last else first  # as python-telegram-bot's User.full_name


def _start_payload(text: str) -> tuple[str, str | None]:
    """ "/start CODE" (a deep link) is /start with the link code as its payload."""
    if text.startswith("/start "):
        return "/start", text.removeprefix("/start ").strip()[:64] or None  # "/start " alone: no payload
    return text, None


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
