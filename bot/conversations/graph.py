"""A Mermaid flowchart of one flow, for `engagebot flows graph` (admins read flows as pictures)."""

from __future__ import annotations

from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow, successors


def mermaid(lf: LoadedFlow) -> str:
    flow = lf.flow
    lines = ["flowchart TD"]
    names = [step.id or f"s{i + 1}" for i, step in enumerate(flow.steps)]
    for i, step in enumerate(flow.steps):
        lines.append(f'    {_node(names[i])}["{_label(step)}"]')
    for i, step in enumerate(flow.steps):
        for j in successors(flow, lf.step_index, i):
            edge = ""
            if isinstance(step, s.BranchStep):
                case = next((c for c in step.branch if lf.step_index.get(c.goto) == j), None)
                edge = f"|{_escape(case.when)[:40]}|" if case else "|else|"
            elif isinstance(step, s.AskStep) and step.on_timeout and lf.step_index[step.on_timeout] == j:
                edge = "|no answer|"
            lines.append(f"    {_node(names[i])} -->{edge} {_node(names[j])}")
    return "\n".join(lines)


def _node(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def _label(step: s.AnyStep) -> str:
    for key in s.STEP_KEYS:
        if key in type(step).model_fields:
            value = getattr(step, key)
            text = value if isinstance(value, str) else key
            detail = f" ({step.expect})" if isinstance(step, s.AskStep) else ""
            return _escape(f"{key}: {text}"[:60] + detail)
    return "step"


def _escape(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")
