"""Every text a customer reads in a flow, as form fields, and a flow's YAML with edited texts written back.

Wording changes need no YAML: the form shows `say`, `ask`, choice and button labels, the "invalid" reply and the
closing `end` text of each step, and the edit is applied to the YAML round-trip (comments, order and layout kept).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow
from bot.yamlsource import Loc, parse_yaml

LABELS = {
    "say": "Message",
    "ask": "Question",
    "invalid": "Reply to an answer it cannot use",
    "end": "Closing message",
    "choices": "Choice",
    "buttons": "Button",
}


@dataclass(frozen=True)
class TextField:
    key: str  # the form field: the YAML path joined by dots, e.g. "steps.3.choices.1.label"
    step: int  # 0-based
    step_name: str
    label: str
    value: str
    line: int
    multiline: bool


def customer_texts(lf: LoadedFlow) -> list[TextField]:
    doc = parse_yaml(lf.source, lf.path)
    fields = []
    for loc, kind in _text_locations(lf.flow):
        value = _get(doc.data, loc)
        if not isinstance(value, str):
            continue
        step = int(loc[1])
        step_obj = lf.flow.steps[step]
        name = f"{step + 1}. {step_obj.id}" if step_obj.id else f"{step + 1}."
        label = LABELS[kind] + (f" {int(loc[3]) + 1}" if kind in ("choices", "buttons") else "")
        fields.append(
            TextField(
                ".".join(map(str, loc)), step, name, label, value, doc.line_of(loc), "\n" in value or len(value) > 60
            )
        )
    return fields


def _text_locations(flow: s.Flow) -> Iterator[tuple[Loc, str]]:
    for i, step in enumerate(flow.steps):
        if isinstance(step, s.SayStep):
            yield ("steps", i, "say"), "say"
            for j, _button in enumerate(step.buttons):
                yield ("steps", i, "buttons", j, "label"), "buttons"
        elif isinstance(step, s.AskStep):
            yield ("steps", i, "ask"), "ask"
            for j, _choice in enumerate(step.choices):
                yield ("steps", i, "choices", j, "label"), "choices"
            if step.invalid:
                yield ("steps", i, "invalid"), "invalid"
        elif isinstance(step, s.EndStep) and isinstance(step.end, str):
            yield ("steps", i, "end"), "end"


def _get(data: object, loc: Loc) -> object:
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def apply_texts(source: str, edits: Mapping[str, str]) -> str:
    """`source` with the texts at the given keys replaced (only keys that are customer texts of it). Unchanged
    texts are left exactly as written; the result is still to be validated like any edit."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # keep long lines as they are instead of re-folding them
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout of the starter flows and docs/flows.md
    data = yaml.load(source)
    changed = False
    for key, text in edits.items():
        loc = tuple(int(p) if p.isdigit() else p for p in key.split("."))
        if len(loc) < 3 or loc[0] != "steps":
            continue
        *parents, last = loc
        node = data
        for part in parents:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if node is None or not isinstance(node.get(last) if hasattr(node, "get") else None, str):
            continue
        text = text.replace("\r\n", "\n").strip()
        old = node[last]
        if str(old).strip() == text:
            continue
        node[last] = _like(old, text)
        changed = True
    if not changed:
        return source
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _like(old: object, text: str) -> object:
    """The new text in the old one's block style when it had one (a `>-` or `|` block stays a block)."""
    if isinstance(old, LiteralScalarString) or "\n" in text:
        return LiteralScalarString(text)
    if isinstance(old, FoldedScalarString):
        return FoldedScalarString(text)
    return text
