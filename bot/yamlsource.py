"""YAML loading that remembers line numbers, and pydantic errors turned into `path:line: message`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, pointing at the line an admin should look at."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        # Line 0 marks a problem outside any file (an environment variable).
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


class SourceError(Exception):
    """A file could not be accepted; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class YamlDocument:
    path: str
    data: Any
    lines: dict[Loc, int]

    def line_of(self, loc: Iterable[str | int]) -> int:
        """The line of the deepest part of `loc` that exists in the file (1 when nothing does)."""
        parts = tuple(loc)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), 1)

    def problem(self, loc: Iterable[str | int], message: str) -> Problem:
        return Problem(self.path, self.line_of(loc), message)


def parse_yaml(text: str, path: str) -> YamlDocument:
    """Parse YAML into plain dicts and lists plus a map from each key path to its line."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        unclosed = exc.context == "while scanning a quoted scalar"  # the quote that opened it is what to fix
        mark = (exc.context_mark if unclosed else None) or exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        # One line whatever YAML quotes: a duplicate key's message carries the (multi-line) value it repeats.
        said = (exc.problem or exc.context or "").split(" with value ")[0]
        said = " ".join(said.split())
        message = f"invalid YAML: {said}{_yaml_hint(exc.problem or '', unclosed)}"
        raise SourceError([Problem(path, line, message)]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys)
        line_match = re.search(r"line (\d+)", str(exc))
        line = int(line_match.group(1)) if line_match else 1
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError([Problem(path, line, f"invalid YAML: {first}")]) from None
    lines: dict[Loc, int] = {(): 1}
    return YamlDocument(path, _plain(raw, (), lines), lines)


def _yaml_hint(problem: str, unclosed: bool) -> str:
    """How to fix the YAML mistakes people make in texts, said in the terms of the file."""
    if unclosed:
        return " (a quote opened on this line is never closed: end the text with the same quote mark)"
    if "mapping values are not allowed" in problem:
        return ' (a text with ": " in it must be quoted: say: "Good news: it works", or use >- and the text below)'
    if "'\\t'" in problem:
        return " (indent with spaces, not tabs)"
    if "expected <block end>, but found" in problem:
        return (
            " (a quoted text cannot hold its own quote mark: use the other one, \"it's\", or double it, 'it''s';"
            " or the indentation is off)"
        )
    return ""


def _plain(node: Any, loc: Loc, lines: dict[Loc, int]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            line, _col = node.lc.key(key)
            lines[(*loc, str(key))] = line + 1
            out[key] = _plain(value, (*loc, str(key)), lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, _col = node.lc.item(index)
            lines[(*loc, index)] = line + 1
            items.append(_plain(value, (*loc, index), lines))
        return items
    if isinstance(node, str):
        return str(node)  # drop ruamel's scalar subclasses
    return node


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest candidate, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def model_fields_of(model: type[BaseModel]) -> set[str]:
    """Every field name and alias reachable from a model, for did-you-mean on unknown keys."""
    seen: set[type[BaseModel]] = set()
    names: set[str] = set()

    def visit(m: type[BaseModel]) -> None:
        if m in seen:
            return
        seen.add(m)
        for name, field in m.model_fields.items():
            names.add(field.alias or name)
            for sub in _models_in(field.annotation):
                visit(sub)

    visit(model)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        found.extend(_models_in(getattr(annotation, "__origin__", None)))
    return found


def validation_problems(
    doc: YamlDocument, error: ValidationError, known_keys: set[str], prefix: Loc = ()
) -> list[Problem]:
    """Turn pydantic's errors into file:line problems, with did-you-mean for misspellings."""
    problems: list[Problem] = []
    for err in error.errors():
        if err["type"] in ("step_kind", "trigger_kind"):
            continue  # reported with a did-you-mean by the flow loader itself
        # Drop union tags pydantic inserts (e.g. 'say', 'function-after[...]') that are not file keys.
        loc = (*prefix, *_file_loc(doc, (*prefix, *err["loc"])))
        where = ".".join(str(p) for p in loc) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            if key in known_keys:  # a real key, in the wrong place: suggesting itself would not help
                message = f'"{key}" does not belong in {".".join(str(p) for p in loc[:-1]) or "the top level"}'
            else:
                message = f'unknown key "{key}"{did_you_mean(key, known_keys)}'
        elif kind == "missing":
            message = f'"{err["loc"][-1]}" is required here ({where})'
        elif kind == "literal_error":
            options = str(err.get("ctx", {}).get("expected", ""))
            # Strings come quoted ("'a', 'b' or 'c'"); numbers do not ("1 or 2").
            expected = re.findall(r"'([^']*)'", options) or [o for o in re.split(r", | or ", options) if o]
            given = err.get("input")
            message = f"{where}: {given!r} is not one of {', '.join(expected)}"
            if isinstance(given, str):
                message += did_you_mean(given, expected)
        else:
            message = f"{where}: {_clean(err['msg'])}"
        problems.append(doc.problem(loc, message))
    return _dedupe(problems)


def _file_loc(doc: YamlDocument, loc: Loc) -> Loc:
    """Keep only the parts of a pydantic loc that walk the real document."""
    node: Any = doc.data
    kept: list[str | int] = []
    parts = list(loc)
    for i, part in enumerate(parts):
        following = parts[i + 1] if i + 1 < len(parts) else None
        if isinstance(node, dict) and part in node and following is not None and following in node:
            continue  # `part` is a union tag pydantic added (e.g. the `ask` of an ask step)
        if isinstance(node, dict) and part in node:
            node = node[part]
            kept.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            kept.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            kept.append(part)  # a missing or unknown key: point at its parent's line
            break
    return tuple(kept)


def _is_tag(part: str) -> bool:
    return "[" in part or part.endswith("-step") or part.startswith("function-")


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[int, str]] = set()
    out = []
    for p in problems:
        if (p.line, p.message) not in seen:
            seen.add((p.line, p.message))
            out.append(p)
    return sorted(out, key=lambda p: p.line)


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")
