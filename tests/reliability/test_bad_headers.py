"""Finding 5 of issue 18: requests without credentials caused 500s with ~60 lines of traceback each, and those lines
bypassed the secret mask (a token sent in a header was logged in clear).

Against one real `engagebot run` with secrets in its environment: malformed or wrong headers carrying those very
secrets each get a 4xx with a reason and exactly one warning line, never a 500 or a traceback, and no secret ever
appears in the process's output. Before, a Slack timestamp header `abc` (here: a token) was a 500 whose traceback,
written by uvicorn's own unmasked handler, quoted the header.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.reliability.harness import (
    API_KEY,
    SLACK_SECRET,
    SLACK_TOKEN,
    STAFF,
    SUPPORT,
    TOKEN,
    WEBHOOK_SECRET,
    EngagebotProcess,
    StandInThread,
    slack_env,
    telegram_env,
    write_config,
)

METRICS_TOKEN = "reliability-metrics-token-42"
SECRETS = [TOKEN, WEBHOOK_SECRET, SLACK_TOKEN, SLACK_SECRET, API_KEY, METRICS_TOKEN]
NOW = str(int(time.time()))
SIGNATURE = "v0=" + "0" * 64
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) ")


@dataclass
class Server:
    bot: EngagebotProcess
    http: httpx.Client

    def log_lines(self) -> list[str]:
        return self.bot.log.read_text(errors="replace").splitlines()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("bad-headers")) as running:
        yield running


@contextmanager
def serving(folder: Path) -> Iterator[Server]:
    """`engagebot run` with Telegram (webhook), Slack over HTTP, the API and a metrics token, up and registered."""
    config = write_config(folder, server={"public_url": "https://bot.example.test"}, staff=STAFF,
                          routing={"fallback": "ana"}, slack={"channels": {"default": SUPPORT}})  # fmt: skip
    with StandInThread() as stand_ins:
        env = {**telegram_env(stand_ins.telegram, "webhook"), **slack_env(stand_ins.slack),
               "ENGAGEBOT_API_KEY": API_KEY, "ENGAGEBOT_METRICS_TOKEN": METRICS_TOKEN}  # fmt: skip
        bot = EngagebotProcess(config, f"sqlite+aiosqlite:///{folder / 'engagebot.db'}", folder / "bot.log", env)
        try:
            with httpx.Client(base_url=bot.url, timeout=30) as http:
                deadline = time.monotonic() + 30
                while stand_ins.telegram.webhook is None:  # up, and its webhook registered
                    assert bot.alive() and time.monotonic() < deadline, bot.tail()
                    time.sleep(0.05)
                yield Server(bot, http)
        finally:
            bot.stop()


def slack_headers(**changes: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": SIGNATURE,
            **changes}  # fmt: skip


URL_CHECK = b'{"type": "url_verification", "challenge": "c"}'
# (case, path, body, headers, status): each header carries one of the process's own secrets.
BAD = [
    ("a Slack timestamp that is a token", "/slack/events", URL_CHECK,
     slack_headers(**{"X-Slack-Request-Timestamp": SLACK_TOKEN}), 401),
    ("a Slack timestamp of digits that are not ASCII", "/slack/events", URL_CHECK,
     slack_headers(**{"X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠"}), 401),
    ("a Slack signature that is the signing secret", "/slack/events", URL_CHECK,
     slack_headers(**{"X-Slack-Signature": SLACK_SECRET}), 401),
    ("a Slack signature past ASCII", "/slack/events", URL_CHECK,
     slack_headers(**{"X-Slack-Signature": "v0=" + "é" * 64 + TOKEN}), 401),
    ("a Slack body that is not UTF-8", "/slack/events", b"\xff" + TOKEN.encode(), slack_headers(), 400),
    ("a Telegram secret that is the API key", "/telegram/webhook", b"{}",
     {"X-Telegram-Bot-Api-Secret-Token": API_KEY}, 403),
    ("an API key that is the bot token", "/api/events", b"{}", {"Authorization": f"Bearer {TOKEN}"}, 401),
    ("a metrics token that is the Slack token", "/metrics", None, {"Authorization": f"Bearer {SLACK_TOKEN}"}, 401),
]  # fmt: skip


@pytest.mark.parametrize(("case", "path", "body", "headers", "status"), BAD, ids=[case for case, *_ in BAD])
def test_a_bad_header_is_a_4xx_with_one_warning_and_no_secret_in_the_output(
    server: Server, case: str, path: str, body: bytes | None, headers: dict[str, str], status: int
) -> None:
    before = len(server.log_lines())
    # Each case from a client address of its own (as a reverse proxy on 127.0.0.1 tells uvicorn): the same refusal
    # again from the same client within a minute belongs to the same burst, logged once.
    client = f"192.0.2.{[c for c, *_ in BAD].index(case) + 1}"
    raw = [(name.encode(), value.encode()) for name, value in {**headers, "X-Forwarded-For": client}.items()]
    if body is None:
        answer = server.http.get(path, headers=raw)
    else:
        answer = server.http.post(path, content=body, headers=raw)

    assert answer.status_code == status, (answer.status_code, answer.text[:300], server.bot.tail())
    assert answer.text.strip(), "the answer says what is wrong"
    new = server.log_lines()[before:]
    loud = [line for line in new if (m := LINE.match(line)) is None or m["level"] in ("WARNING", "ERROR")]
    assert len(loud) == 1 and loud[0].split()[2] == "WARNING", new
    assert loud[0].endswith(f"from {client}"), loud


def test_no_secret_and_no_traceback_ever_reached_the_output(server: Server) -> None:
    assert server.http.get("/healthz").status_code == 200  # still serving
    output = server.bot.log.read_text(errors="replace")
    assert "Traceback" not in output
    for secret in SECRETS:
        assert secret not in output


def test_a_flood_of_bad_requests_to_every_door_is_a_handful_of_lines(tmp_path: Path) -> None:
    """Every refused request was a WARNING line of its own: 1,000 bad requests, 1,000 lines; anyone could flood the
    log (and a disk, and whoever reads it). Now a line per burst of one refusal from one client, and a few new lines
    a minute per door however many clients, the ones left out counted in a later line."""
    doors = [
        ("/slack/events", URL_CHECK, slack_headers()),  # a forged signature
        ("/telegram/webhook", b"{}", {"X-Telegram-Bot-Api-Secret-Token": "guess"}),
        ("/api/events", b"{}", {"Authorization": "Bearer guess"}),
        ("/metrics", None, {"Authorization": "Bearer guess"}),
    ]
    with serving(tmp_path) as server:
        before = len(server.log_lines())
        statuses = []
        for n in range(1000):
            path, body, headers = doors[n % len(doors)]
            # Half from one client, half each from an address of its own.
            spoofed = {**headers, "X-Forwarded-For": "198.51.100.1" if n < 500 else f"10.1.{n // 250}.{n % 250 + 1}"}
            answer = server.http.get(path, headers=spoofed) if body is None else server.http.post(
                path, content=body, headers=spoofed)  # fmt: skip
            statuses.append(answer.status_code)
        assert server.http.get("/healthz").status_code == 200
        new = server.log_lines()[before:]

    assert sorted(set(statuses)) == [401, 403], set(statuses)
    warnings = [line for line in new if " WARNING " in line]
    assert not [line for line in new if " ERROR " in line or "Traceback" in line], new
    # Per door: the one client's burst, then at most 6 new bursts at once and one more every 10 s.
    for door in ("Slack request refused", "webhook: request without", "api: POST", "metrics: request without"):
        mine = [line for line in warnings if door in line]
        assert 2 <= len(mine) <= 8, (door, mine)
    assert len(warnings) <= 32, warnings  # was 1,000
