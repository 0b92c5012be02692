"""Telegram: python-telegram-bot in polling or webhook mode, rendering replies natively."""

from handlers.telegram.adapter import TelegramAdapter
from handlers.telegram.sender import TelegramChannel

__all__ = ["TelegramAdapter", "TelegramChannel"]
