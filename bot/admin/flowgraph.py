"""A flow drawn as SVG on the server: steps in layers by their distance from the first, arrows for every way on.

A small layered layout (no library, no script): each step goes one layer below the furthest step that leads to it
along a forward edge; edges back up (loops, `goto` to an earlier step) curve along the right side. Each box links to
the step in the texts form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow, successors

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 220, 52, 36, 46, 24
NOTE_H = 20  # the extra line under a step's text for a note
KIND_CLASS = {
    "say": "say",
    "ask": "ask",
    "branch": "branch",
    "action": "action",
    "wait": "wait",
    "end": "end",
    "goto": "branch",
    "set": "action",
}


@dataclass(frozen=True)
class Node:
    index: int
    kind: str
    title: str
    text: str
    x: int
    y: int


def _kind(step: s.AnyStep) -> str:
    return next((k for k in s.STEP_KEYS if k in type(step).model_fields), "step")


def _summary(step: s.AnyStep) -> str:
    if isinstance(step, s.SayStep):
        return step.say
    if isinstance(step, s.AskStep):
        return f"{step.ask} ({step.expect})"
    if isinstance(step, s.BranchStep):
        return " / ".join(case.when for case in step.branch)
    if isinstance(step, s.ActionStep):
        return step.action + (f" {step.flow}" if step.flow else "")
    if isinstance(step, s.WaitStep):
        return f"wait {step.wait}"
    if isinstance(step, s.EndStep):
        return step.end if isinstance(step.end, str) else "end"
    if isinstance(step, s.GotoStep):
        return f"go to {step.goto}"
    if isinstance(step, s.SetStep):
        return "set " + ", ".join(step.set)
    return ""


def _layers(lf: LoadedFlow) -> list[int]:
    """Longest path from the first step over edges that go forward in the file (back edges would make cycles)."""
    steps = lf.flow.steps
    layer = [0] * len(steps)
    for i in range(len(steps)):
        for j in successors(lf.flow, lf.step_index, i):
            if j > i:
                layer[j] = max(layer[j], layer[i] + 1)
    return layer


def layout(lf: LoadedFlow, box_h: int = BOX_H) -> list[Node]:
    layer = _layers(lf)
    by_layer: dict[int, list[int]] = {}
    for i, depth in enumerate(layer):
        by_layer.setdefault(depth, []).append(i)
    widest = max(len(members) for members in by_layer.values())
    width = widest * (BOX_W + GAP_X) - GAP_X
    nodes = []
    for depth, members in sorted(by_layer.items()):
        row_width = len(members) * (BOX_W + GAP_X) - GAP_X
        left = MARGIN + (width - row_width) // 2
        for k, i in enumerate(members):
            step = lf.flow.steps[i]
            title = f"{i + 1}. {step.id}" if step.id else f"{i + 1}."
            nodes.append(
                Node(
                    i, _kind(step), title, _summary(step), left + k * (BOX_W + GAP_X), MARGIN + depth * (box_h + GAP_Y)
                )
            )
    return nodes


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg(lf: LoadedFlow, link: str = "#step-{index}", notes: Mapping[int, Note] | None = None) -> str:
    """The SVG markup (every text escaped); `link` is formatted with the step's 0-based `index`. `notes` adds a line
    under a step's text (the flows report's reached / answered / dropped off), by the step's index."""
    notes = notes or {}
    box_h = BOX_H + (NOTE_H if notes else 0)  # one box height for the drawing
    nodes = layout(lf, box_h)
    at = {n.index: n for n in nodes}
    height = max(n.y for n in nodes) + box_h + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flowgraph" viewBox="0 0 WIDTH {height}" '
        f'width="WIDTH" height="{height}" role="img" aria-label="flow {escape(lf.id)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>',
    ]
    lane = max(n.x for n in nodes) + BOX_W + 14  # long edges run down the right side, one lane each
    for i, step in enumerate(lf.flow.steps):
        for j in successors(lf.flow, lf.step_index, i):
            a, b = at[i], at[j]
            label = _edge_label(lf, step, j)
            if 0 < b.y - a.y <= box_h + GAP_Y:  # to the next layer: a short curve
                x1, y1, x2, y2 = a.x + BOX_W // 2, a.y + box_h, b.x + BOX_W // 2, b.y
                mid = (y1 + y2) // 2
                d = f"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}"
                lx, ly, anchor = (x1 + x2) // 2 + 4, mid - 2, "start"
            else:  # further down, back up, or sideways: around the right side, clear of the boxes
                x1, y1, x2, y2 = a.x + BOX_W, a.y + box_h // 2, b.x + BOX_W, b.y + box_h // 2
                lane += 12
                d = (
                    f"M{x1},{y1} L{lane - 8},{y1} Q{lane},{y1} {lane},{y1 + (8 if y2 > y1 else -8)} "
                    f"L{lane},{y2 + (-8 if y2 > y1 else 8)} Q{lane},{y2} {lane - 8},{y2} L{x2},{y2}"
                )
                lx, ly, anchor = lane + 4, (y1 + y2) // 2, "start"
            parts.append(f'<path class="edge" d="{d}" marker-end="url(#arrow)"/>')
            if label:
                parts.append(
                    f'<text class="edge-label" x="{lx}" y="{ly}" text-anchor="{anchor}">'
                    f"{escape(_clip(label, 28))}</text>"
                )
    for n in nodes:
        href = escape(link.format(index=n.index))
        kind = KIND_CLASS.get(n.kind, "step")
        parts.append(
            f'<a href="{href}" class="node {kind}" data-step="{n.index}"><title>{escape(n.text)}</title>'
            f'<rect x="{n.x}" y="{n.y}" width="{BOX_W}" height="{box_h}" rx="8"/>'
            f'<text class="node-title" x="{n.x + 10}" y="{n.y + 19}">{escape(_clip(n.title + "  " + n.kind, 32))}'
            f'</text><text class="node-text" x="{n.x + 10}" y="{n.y + 39}">{escape(_clip(n.text, 30))}</text>'
            + _note(n, notes.get(n.index))
            + "</a>"
        )
    parts.append("</svg>")
    width = lane + 180  # room for the last lane's label
    parts[0] = parts[0].replace("WIDTH", str(width))
    return "".join(parts)


@dataclass(frozen=True)
class Note:
    text: str
    warn: bool = False  # drawn in the warning colour (customers dropped off here)


def _note(n: Node, note: Note | None) -> str:
    if note is None:
        return ""
    kind = "node-note warn" if note.warn else "node-note"
    return f'<text class="{kind}" x="{n.x + 10}" y="{n.y + 59}">{escape(_clip(note.text, 34))}</text>'


def _edge_label(lf: LoadedFlow, step: s.AnyStep, target: int) -> str:
    if isinstance(step, s.BranchStep):
        case = next((c for c in step.branch if lf.step_index.get(c.goto) == target), None)
        return case.when if case else "else"
    if isinstance(step, s.AskStep) and step.on_timeout and lf.step_index.get(step.on_timeout) == target:
        return "no answer"
    return ""
