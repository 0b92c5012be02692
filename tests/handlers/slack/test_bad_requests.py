"""Malformed Slack requests (headers slack_sdk takes for granted, bodies bolt cannot parse) are refused with a 4xx
and exactly one log line, never a 500 with a traceback; a real request still works afterwards."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from handlers.server import build_app
from tests.conftest import FixedClock
from tests.handlers.slack.harness import ANA, SECRET, SUPPORT, running, slack_settings
from tests.support.slack_standin import (
    SlackApiStandIn,
    event_callback,
    signed_headers,
    slash_command,
    url_verification,
)

NOW = str(int(time.time()))
HEX = "0" * 64
URL_CHECK, JSON = url_verification("challenge-1")

# (case, body, headers, status): headers replace the valid signature headers where given.
BAD = [
    ("no signature", URL_CHECK.encode(), {"X-Slack-Request-Timestamp": None, "X-Slack-Signature": None}, 401),
    ("a timestamp that is not a number", URL_CHECK.encode(), {"X-Slack-Request-Timestamp": "abc"}, 401),
    ("a timestamp in Arabic digits (int() takes them)", URL_CHECK.encode(), {"X-Slack-Request-Timestamp": "١٢٣"}, 401),
    ("a timestamp of 5,000 digits (int() refuses it)", URL_CHECK.encode(), {"X-Slack-Request-Timestamp": "9" * 5000},
     401),
    ("a timestamp with underscores (int() takes them)", URL_CHECK.encode(),
     {"X-Slack-Request-Timestamp": f"{NOW[:4]}_{NOW[4:]}"}, 401),
    ("a signature past ASCII (compare_digest raises)", URL_CHECK.encode(), {"X-Slack-Signature": "v0=" + "é" * 64},
     401),
    ("a signature of the wrong form", URL_CHECK.encode(), {"X-Slack-Signature": "sha256=" + HEX}, 401),
    ("a forged signature", URL_CHECK.encode(), {"X-Slack-Signature": "v0=" + HEX}, 401),
    ("a stale request", URL_CHECK.encode(), {"X-Slack-Request-Timestamp": str(int(time.time()) - 3600)}, 401),
    ("a body that is not UTF-8", b"\xff\xfe{}", {}, 400),
]  # fmt: skip


def headers_for(body: bytes, changes: dict[str, str | None]) -> dict[str, str]:
    headers = signed_headers(body.decode("utf-8", "replace"), SECRET, content_type=JSON)
    for name, value in changes.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return headers


@pytest.fixture
async def events_url(tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn, clock: FixedClock):
    app = build_app(slack_settings(tmp_path, sqlite_url, flows_dir, slack), clock=clock, background=False)
    async with running(app, slack) as staff:
        yield staff.url


@pytest.mark.parametrize(("case", "body", "changes", "status"), BAD, ids=[case for case, *_ in BAD])
async def test_a_malformed_request_is_refused_with_one_log_line(
    events_url: str, caplog: pytest.LogCaptureFixture, case: str, body: bytes, changes: dict, status: int
) -> None:
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(timeout=10) as http:
        # Headers as raw bytes: httpx would refuse to encode a non-ASCII value itself.
        headers = [(k.encode(), v.encode("utf-8")) for k, v in headers_for(body, changes).items()]
        answer = await http.post(events_url, content=body, headers=headers)

        assert answer.status_code == status, answer.text
        assert answer.text.strip()
        lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.name for r in lines] == ["handlers.slack.adapter"], [r.getMessage() for r in lines]
        assert not any(r.exc_info for r in caplog.records)
        # The real thing still works.
        fine = await http.post(events_url, content=URL_CHECK.encode(), headers=signed_headers(URL_CHECK, SECRET))
        assert fine.json() == {"challenge": "challenge-1"}


async def test_a_flood_of_forged_requests_is_a_handful_of_log_lines(
    events_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each refusal was a WARNING line of its own: anyone could flood the log with forged requests. Now one line per
    burst of the same refusal from one address, and a few new lines a minute from many addresses together."""
    caplog.set_level(logging.INFO)
    headers = headers_for(URL_CHECK.encode(), {"X-Slack-Signature": "v0=" + HEX})
    async with httpx.AsyncClient(timeout=10) as http:
        statuses = [(await http.post(events_url, content=URL_CHECK, headers=headers)).status_code for _ in range(500)]
        for n in range(500):  # each from an address of its own, as a reverse proxy on 127.0.0.1 tells uvicorn
            spoofed = {**headers, "X-Forwarded-For": f"10.0.{n // 250}.{n % 250 + 1}"}
            statuses.append((await http.post(events_url, content=URL_CHECK, headers=spoofed)).status_code)

    assert statuses == [401] * 1000
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines[0] == "Slack request refused (401): invalid or expired signature; from 127.0.0.1"
    assert lines[1] == "Slack request refused (401): invalid or expired signature; from 10.0.0.1"
    assert 2 <= len(lines) <= 8, lines  # 6 new bursts at once, then one every 10 s; was 1,000 lines


FORM = "application/x-www-form-urlencoded"


def payload(data: dict) -> str:
    return urlencode({"payload": json.dumps(data)})


SIGNED_GARBAGE = [
    ("JSON nested 100,000 deep (RecursionError)", "[" * 100_000, JSON),
    ("a form whose payload is nested deep", "payload=" + "[" * 100_000, FORM),
    ("a JSON list", json.dumps([1, 2]), JSON),
    # Shapes found by fuzzing that reached bolt or our listeners and raised there (a traceback, or a 500).
    ("a slash command without user_id", slash_command("/engage", "mine", "", SUPPORT)[0].replace("user_id=&", ""),
     FORM),
    ("a slash command whose response_url is no URL", urlencode({"command": "/engage", "text": "help",
                                                                "user_id": ANA, "response_url": "abc"}), FORM),
    ("an interactive message without actions", payload({"type": "interactive_message", "callback_id": "x"}), FORM),
    ("a view submission whose view has no type",
     payload({"type": "view_submission", "view": {"callback_id": "ticket_resolve"}}), FORM),
    ("an event whose message's user is a number",
     event_callback({"type": "message", "message": {"user": 1.5}})[0], JSON),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "content_type"), SIGNED_GARBAGE, ids=[c for c, *_ in SIGNED_GARBAGE])
async def test_signed_garbage_is_400_with_one_log_line(
    events_url: str, caplog: pytest.LogCaptureFixture, case: str, body: str, content_type: str
) -> None:
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(timeout=10) as http:
        headers = signed_headers(body, SECRET, content_type=content_type)
        answer = await http.post(events_url, content=body.encode(), headers=headers)

    assert answer.status_code == 400, answer.text
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert not any(r.exc_info for r in caplog.records)


async def test_a_request_no_listener_takes_is_one_line_not_bolts_ten(
    events_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = event_callback({"type": "reaction_added", "user": ANA, "item": {"channel": SUPPORT}})[0]
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(events_url, content=body.encode(), headers=signed_headers(body, SECRET))

    assert answer.status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("slack_bolt", "handlers.slack"))]
    assert lines == ["Slack request 'event_callback' not handled: no listener for it"]
