"""Issue 18, smaller findings: the web chat page had no Content-Security-Policy or frame-ancestors, and /metrics was
open to anyone who could reach the port.

Against a real `engagebot run` with `webchat.frame_ancestors` and ENGAGEBOT_METRICS_TOKEN set: the page allows
only its own inline script and style and the configured site as a framer; /metrics needs the token, compared
in constant time; the start-up report says so without printing it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.harness import EngagebotProcess, write_config
from tests.support.csp import InlineBlocks, directives, sha256_source

METRICS_TOKEN = "reliability-metrics-token-0123456789"
SHOP = "https://shop.example.com"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngagebotProcess]:
    folder: Path = tmp_path_factory.mktemp("headers")
    config = write_config(folder, webchat={"frame_ancestors": [SHOP]})
    process = EngagebotProcess(config, f"sqlite+aiosqlite:///{folder / 'engagebot.db'}", folder / "bot.log",
                               {"ENGAGEBOT_METRICS_TOKEN": METRICS_TOKEN})  # fmt: skip
    try:
        asyncio.run(process.wait_healthy())
        yield process
    finally:
        process.stop()


def test_the_chat_page_allows_only_its_own_scripts_and_the_configured_site_as_a_framer(bot: EngagebotProcess) -> None:
    page = httpx.get(f"{bot.url}/chat")
    blocks = InlineBlocks()
    blocks.feed(page.text)
    policy = directives(page.headers["content-security-policy"])

    assert policy["script-src"] == ["'self'", *map(sha256_source, blocks.blocks["script"])]
    assert policy["style-src"] == ["'self'", *map(sha256_source, blocks.blocks["style"])]
    assert policy["frame-ancestors"] == ["'self'", SHOP]
    assert (page.headers["x-content-type-options"], page.headers["referrer-policy"]) == ("nosniff", "no-referrer")


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer guess", 401), (f"Bearer {METRICS_TOKEN[:-1]}", 401), (f"Bearer {METRICS_TOKEN}", 200)],
)
def test_metrics_need_the_token(bot: EngagebotProcess, authorization: str | None, status: int) -> None:
    answer = httpx.get(f"{bot.url}/metrics", headers={"Authorization": authorization} if authorization else {})

    assert answer.status_code == status
    assert ("engagebot_" in answer.text) == (status == 200)


def test_the_start_up_report_says_metrics_need_a_token_and_never_prints_it(bot: EngagebotProcess) -> None:
    output = bot.log.read_text()
    assert re.search(r"metrics: http://\S+/metrics \(needs Authorization: Bearer <ENGAGEBOT_METRICS_TOKEN>\)", output)
    assert METRICS_TOKEN not in output
