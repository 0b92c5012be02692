"""Finding 1 of issue 18: a huge body, without credentials, must not exhaust the process's memory.

One real `engagebot run` (Slack over HTTP, the Telegram webhook, the API and the web chat all on). Each endpoint
that takes a body gets 400 MB streamed chunked, with no Content-Length, generated as it is sent: each is refused
with 413 after about its limit, the connection closed, and the process's peak resident memory (VmHWM) stays
within 20 MB of what it was idle, also with eight such uploads at once. Before, /slack/events read the whole body
(132 -> 492 MB for one upload) and the Telegram webhook read 30 MB before refusing it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.harness import (
    API_KEY,
    STAFF,
    SUPPORT,
    WEBHOOK_SECRET,
    EngagebotProcess,
    StandInThread,
    slack_env,
    telegram_env,
    write_config,
)
from tests.support.upload import Answer, post_and_hang_up, post_streaming

HUGE = 400 * 1024 * 1024
MIB = 1024 * 1024
# (path, headers that get past the checks made before the body is read, the path's limit)
ENDPOINTS = [
    ("/slack/events", {}, MIB),
    ("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}, MIB),
    ("/api/events", {"Authorization": f"Bearer {API_KEY}"}, MIB),
    ("/chat/api/messages", {}, 64 * 1024),
]


def memory_kb(pid: int, field: str) -> int:
    """A VmRSS / VmHWM line of /proc/PID/status, in kB (psutil is not installed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current resident size (Linux: 5 > clear_refs), so start-up peaks do not count."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngagebotProcess]:
    folder = tmp_path_factory.mktemp("body-limits")
    config = write_config(folder, server={"public_url": "https://bot.example.test"}, staff=STAFF,
                          routing={"fallback": "ana"}, slack={"channels": {"default": SUPPORT}})  # fmt: skip
    with StandInThread() as stand_ins:
        env = {**telegram_env(stand_ins.telegram, "webhook"), **slack_env(stand_ins.slack),
               "ENGAGEBOT_API_KEY": API_KEY}  # fmt: skip
        process = EngagebotProcess(config, f"sqlite+aiosqlite:///{folder / 'engagebot.db'}", folder / "bot.log", env)
        try:
            deadline = time.monotonic() + 30
            while stand_ins.telegram.webhook is None:  # up, and its webhook registered
                assert process.alive() and time.monotonic() < deadline, process.tail()
                time.sleep(0.05)
            yield process
        finally:
            process.stop()


def upload(bot: EngagebotProcess, path: str, headers: dict[str, str], total: int = HUGE) -> Answer:
    return post_streaming(f"{bot.url}{path}", total=total, headers=headers, timeout=20)


def assert_refused(answer: Answer, limit: int, bot: EngagebotProcess) -> None:
    assert answer.status == 413, (answer.status, answer.body[:300], bot.tail())
    assert answer.json() == {"error": f"body too large (over {limit} bytes)"}
    assert answer.headers["connection"] == "close"
    # What the kernel's socket buffers took before the server stopped reading, not the 400 MB.
    assert answer.sent < 32 * MIB, answer.sent


def test_400_mb_streamed_to_each_endpoint_is_refused_and_memory_stays_flat(bot: EngagebotProcess) -> None:
    for path, headers, _ in ENDPOINTS:  # warm up: the first refusal on each route loads what it needs
        upload(bot, path, headers, total=4 * MIB)
    idle = memory_kb(bot.pid, "VmRSS")
    reset_peak(bot.pid)

    started = time.monotonic()
    for path, headers, limit in ENDPOINTS:
        assert_refused(upload(bot, path, headers), limit, bot)
    with ThreadPoolExecutor(len(ENDPOINTS) * 2) as pool:  # eight at once, two per endpoint
        answers = list(pool.map(lambda e: (upload(bot, e[0], e[1]), e[2]), ENDPOINTS * 2))
    for answer, limit in answers:
        assert_refused(answer, limit, bot)
    elapsed = time.monotonic() - started

    peak = memory_kb(bot.pid, "VmHWM")
    assert peak - idle < 20 * 1024, f"peak {peak} kB, idle {idle} kB"
    assert elapsed < 20, f"12 refused uploads took {elapsed:.1f}s: the server read far more than the limit"
    assert bot.alive()


def test_clients_that_hang_up_mid_upload_leave_no_error_in_the_log(bot: EngagebotProcess) -> None:
    """Each dropped upload was `ERROR unhandled ClientDisconnect at starlette/requests.py:252 ...: answered 500`:
    anyone could fill the ERROR log. Now nobody is answered (nobody is listening) and nothing above DEBUG is logged."""
    before = len(bot.log.read_text(errors="replace").splitlines())
    for path, headers, _ in ENDPOINTS:
        for _ in range(3):
            assert post_and_hang_up(f"{bot.url}{path}", declared=1000, send=300, headers=headers) == b""
    # The server closed each of those connections once it had seen the hang-up, which wakes the request's task:
    # one event loop runs it before anything that arrives later, so when a later request's line is in the log,
    # whatever the hang-ups logged is there too.
    later = post_streaming(f"{bot.url}/chat/api/messages", total=MIB, declare=True,
                           headers={"X-Forwarded-For": "192.0.2.77"})  # fmt: skip
    assert later.status == 413
    new = bot.log.read_text(errors="replace").splitlines()[before:]
    assert any("from 192.0.2.77" in line for line in new), new
    assert not [line for line in new if " ERROR " in line or "Traceback" in line], new
    assert bot.alive()
