"""Telegram's webhook sender for the inbound benchmark, in a process of its own (bench_inbound.py `Offers`).

Telegram's servers POST each update to the bot and take its sendMessage calls on other machines. In one process
the benchmark's HTTP client and its Bot API stand-in shared an event loop: a bot's answer to the POST and its reply
reached that loop together, and whichever the loop handled first delayed the other, so the reply was timed late by
the client's handling of the answer. A bot that answers the POST once the message is stored (engagebot) met that
every time; one that answers on receipt, before it computes (python-telegram-bot's webhook server), never did.

Reads lines `n<TAB>json-update` on stdin, POSTs each to the webhook at once (at most `connections` at a time, as
Telegram's max_connections), and writes `n<TAB>offered<TAB>ok` on stdout when its answer is read: `offered` is
when the line was read (time.monotonic(), the same clock as the stand-in's in any process on the machine),
`ok` 1 for a 200. Ends when stdin closes and every POST is answered.

aiohttp, not httpx: as the benchmark's client httpx took 1.8 ms of CPU per message, aiohttp about 0.5, and the
client's CPU capped every bot's webhook throughput (docs/decisions.md, "Tenth round").
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

TIMEOUT = 30.0
ATTEMPTS = 50  # the bot may set its webhook a moment before it listens


async def _post(session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes) -> bool:
    for attempt in range(ATTEMPTS):
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status == 200
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.1 * (attempt + 1))
        except (aiohttp.ClientError, TimeoutError):
            return False
    return False


async def main(url: str, secret: str, connections: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    tasks: set[asyncio.Task[None]] = set()

    async def offer(number: str, body: bytes, offered: float) -> None:
        ok = await _post(session, url, headers, body)
        sys.stdout.write(f"{number}\t{offered!r}\t{int(ok)}\n")
        sys.stdout.flush()

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        while line := await reader.readline():
            offered = time.monotonic()
            number, _, body = line.rstrip(b"\n").partition(b"\t")
            task = asyncio.create_task(offer(number.decode(), body, offered))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
