"""A client that uploads a huge body the way an attacker would (chunked, no Content-Length, generated as it goes)
and, like a careful client, reads the answer while still sending and stops sending when it comes.

A plain socket on purpose: the server answers 413 and closes, and an asyncio client whose write then fails drops
the answer still unread; the kernel keeps it for a plain socket to read.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes sent before the answer came (or the connection closed)

    def json(self) -> Any:
        return json.loads(self.body)


def post_streaming(
    url: str,
    *,
    total: int,
    headers: Mapping[str, str] | None = None,
    chunk: int = 64 * 1024,
    declare: bool = False,
    timeout: float = 30,
) -> Answer:
    """POST `total` bytes of b"x" to `url`: chunked, or with a Content-Length of `total` when `declare`."""
    parts = urlsplit(url)
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    head.append(f"Content-Length: {total}" if declare else "Transfer-Encoding: chunked")
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    block = b"x" * chunk
    frame = block if declare else f"{chunk:x}\r\n".encode() + block + b"\r\n"
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        sent, pending, received = 0, b"", b""
        while True:
            if not pending and sent < total:
                pending = frame
            writing = [sock] if pending else []
            readable, writable, _ = select.select([sock], writing, [], timeout)
            if not readable and not writable:
                raise TimeoutError(f"no answer within {timeout}s after sending {sent} bytes")
            if readable:
                received = _read_rest(sock, timeout)
                break
            try:
                done = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                received = _read_rest(sock, timeout)  # closed while we sent: the answer may be waiting
                break
            pending = pending[done:]
            if not pending:
                sent += chunk
                if sent >= total and not declare:
                    sock.setblocking(True)
                    # The server may have answered (413) and closed as the last chunk went: the answer is waiting.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        sock.sendall(b"0\r\n\r\n")
                    received = _read_rest(sock, timeout)
                    break
    return _parse(received, sent)


def _read_rest(sock: socket.socket, timeout: float) -> bytes:
    """Read the answer: until its Content-Length is complete, the server closes, or it resets the connection."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not piece:
            return data
        data += piece
        head, found, body = data.partition(b"\r\n\r\n")
        if found:
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and len(body) >= int(value):
                    return data


def _parse(data: bytes, sent: int) -> Answer:
    if not data:
        raise ConnectionError(f"the connection closed with no answer after {sent} bytes")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body, sent)


def post_and_hang_up(url: str, *, declared: int, send: int, headers: Mapping[str, str] | None = None) -> bytes:
    """POST with a Content-Length of `declared`, send only `send` bytes of it, then hang up (half-close, as a
    client that dies mid-upload); returns whatever the server sent before it closed too (normally nothing).

    The server closes its side only once it has seen the hang-up, so on return the server has handed it to the app.
    """
    parts = urlsplit(url)
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {declared}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"x" * send)
        sock.shutdown(socket.SHUT_WR)
        return _read_rest(sock, 30)
