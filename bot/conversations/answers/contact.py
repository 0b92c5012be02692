"""Contact answers: an email address (normalised) and a phone number (E.164, read in the business's region)."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from bot.conversations.answers.cleaning import SHORT
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.schema import AskStep

_MAX_EMAIL = 320


def parse_email(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return refused("empty")
    if len(text) > _MAX_EMAIL:
        return refused("invalid_email")
    try:
        email = validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, ValueError):
        return refused("invalid_email")
    return accepted(email, email)


def parse_phone(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return refused("empty")
    if len(text) > SHORT:
        return refused("invalid_phone")
    region = (ctx.default_region or "").upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except (phonenumbers.NumberParseException, ValueError, TypeError):
        return refused("invalid_phone")
    if not phonenumbers.is_valid_number(number):
        return refused("invalid_phone")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return accepted(e164, shown)
