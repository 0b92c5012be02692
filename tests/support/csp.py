"""Reading a page and its Content-Security-Policy as a browser would, for the tests of security headers."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser


class InlineBlocks(HTMLParser):
    """The inline <script> and <style> texts of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: dict[str, list[str]] = {"script": [], "style": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.blocks and not any(name == "src" for name, _ in attrs):
            self._open = tag
            self.blocks[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.blocks[self._open][-1] += data


def sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def directives(policy: str) -> dict[str, list[str]]:
    parts = [d.split() for d in policy.split(";") if d.strip()]
    return {d[0]: d[1:] for d in parts}
