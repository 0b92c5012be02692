"""What changed between two saved versions of YAML (a flow, a playbook section), line by line, for the versions
pages."""

from __future__ import annotations

import difflib

# (kind: "add" | "del" | "hunk" | "same", text)
DiffLine = tuple[str, str]


def diff_lines(old: str, new: str, old_number: int, new_number: int) -> list[DiffLine]:
    lines: list[DiffLine] = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"version {old_number}", f"version {new_number}", lineterm="", n=3
    ):
        if line.startswith(("---", "+++")):
            continue
        lines.append(({"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same"), line))
    return lines
