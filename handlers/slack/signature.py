"""Slack's request signature, checked before anything else reads the request.

slack_sdk's SignatureVerifier takes well-formed headers for granted: a timestamp that is not a number raised
ValueError (`int("abc")`), a signature with a character past ASCII TypeError (`hmac.compare_digest`), and a body
that is not UTF-8 UnicodeDecodeError, each a 500 with a traceback quoting the header. Here each is a plain refusal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.signature import SignatureVerifier

TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # HMAC-SHA256 in hex, as Slack sends it


@dataclass(frozen=True)
class Refusal:
    """A request answered here: `status` (400, 401) and `reason`, which is also the one log line."""

    status: int
    reason: str


def refusal(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> Refusal | None:
    """None when the request is signed by Slack and fresh, else why it is refused."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if timestamp is None or signature is None:
        return Refusal(401, "not signed: X-Slack-Request-Timestamp and X-Slack-Signature are required")
    if not TIMESTAMP.fullmatch(timestamp):
        return Refusal(401, "X-Slack-Request-Timestamp is not a Unix time")
    if not SIGNATURE.fullmatch(signature):
        return Refusal(401, "X-Slack-Signature is not v0= and 64 hex digits")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "the body is not UTF-8")
    if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
        return Refusal(401, "invalid or expired signature")
    return None
