"""Reads flow files, validates them (file:line problems, did-you-mean) and checks their graph."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from bot.config import Settings, unknown_pool
from bot.conversations import schema as s
from bot.templating import check_expression, check_template
from bot.yamlsource import (
    Loc,
    Problem,
    SourceError,
    YamlDocument,
    did_you_mean,
    model_fields_of,
    parse_yaml,
    validation_problems,
)

KNOWN_KEYS = model_fields_of(s.Flow) | set(s.STEP_KEYS) | set(s.TRIGGER_KEYS) | {"else"}
FLOW_SUFFIXES = (".yaml", ".yml")
PARSES_KEPT = 256  # valid flow texts whose parse is kept per process (all in force, and drafts and older versions)


@dataclass(frozen=True)
class LoadedFlow:
    flow: s.Flow
    version: str
    path: str
    source: str
    step_index: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.flow.flow

    def index_of(self, step_id: str) -> int:
        return self.step_index[step_id]


def flow_version(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def parse_flow(source: str, path: str) -> LoadedFlow:
    """Validate one flow file on its own; raises SourceError with every problem found (at `path`)."""
    try:
        valid = _valid_flow(source)
    except SourceError:
        return _parse_flow(source, path)  # the problems again, at the file's own path
    return replace(valid, path=path)


@lru_cache(maxsize=PARSES_KEPT)
def _valid_flow(source: str) -> LoadedFlow:
    """A valid flow's parse, kept per process by its text (a LoadedFlow is immutable): parsing YAML with its line
    numbers is most of the time a Core takes to start, and every Core in a process (each test, a second instance,
    the console's preview of an unchanged draft) parsed the same files again, wherever they were."""
    return _parse_flow(source, "")


def _parse_flow(source: str, path: str) -> LoadedFlow:
    doc = parse_yaml(source, path)
    if not isinstance(doc.data, dict):
        raise SourceError([doc.problem((), "a flow file must be a mapping with `flow:` and `steps:`")])
    problems = _kind_problems(doc)
    try:
        flow = s.Flow.model_validate(doc.data)
    except ValidationError as exc:
        problems += validation_problems(doc, exc, KNOWN_KEYS)
        raise SourceError(_unique(problems)) from None
    step_index, id_problems = _step_ids(doc, flow)
    problems += id_problems
    problems += _reference_problems(doc, flow, step_index)
    problems += _template_problems(doc, flow)
    if not problems:
        problems += _unreachable(doc, flow, step_index)
    if problems:
        raise SourceError(_unique(problems))
    return LoadedFlow(flow, flow_version(source), path, source, step_index)


def parse_flow_file(path: Path) -> LoadedFlow:
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SourceError([Problem(str(path), 1, "not a UTF-8 text file")]) from None
    return parse_flow(source, str(path))


def flow_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in FLOW_SUFFIXES and p.is_file())


def check_directory(directory: Path) -> tuple[dict[str, LoadedFlow], list[Problem]]:
    """Load every flow in a folder; return the valid ones and all problems (per file and across files)."""
    if not directory.is_dir():
        return {}, [Problem(str(directory), 1, "flows folder not found")]
    loaded: list[LoadedFlow] = []
    problems: list[Problem] = []
    for path in flow_files(directory):
        try:
            loaded.append(parse_flow_file(path))
        except SourceError as exc:
            problems += exc.problems
    flows, cross = cross_check(loaded)
    return flows, problems + cross


def cross_check(candidates: Iterable[LoadedFlow]) -> tuple[dict[str, LoadedFlow], list[Problem]]:
    """Checks that need all flows: unique ids and commands, known flow references."""
    flows: dict[str, LoadedFlow] = {}
    problems: list[Problem] = []
    commands: dict[str, str] = {}
    for lf in candidates:
        if lf.id in flows:
            problems.append(_at(lf, ("flow",), f'flow id "{lf.id}" is already used by {flows[lf.id].path}'))
            continue
        taken = [i for i, t in enumerate(lf.flow.triggers) if isinstance(t, s.CommandTrigger) and t.command in commands]
        if taken:
            command = lf.flow.triggers[taken[0]].command  # type: ignore[union-attr]
            message = f"command {command} is already used by flow {commands[command]}"
            problems.append(_at(lf, ("triggers", taken[0], "command"), message))
            continue
        flows[lf.id] = lf
        commands.update({c.command: lf.id for c in _commands(lf)})
    for lf in list(flows.values()):
        for loc, target in _flow_references(lf.flow):
            if target not in flows:
                problems.append(_at(lf, loc, f'unknown flow "{target}"{did_you_mean(target, flows)}'))
    return flows, problems


def reward_pool_problems(flows: Iterable[LoadedFlow], settings: Settings) -> list[Problem]:
    """Every give_reward step names a pool of the settings' rewards.pools: a typo would promise the customer a reward
    and give nothing."""
    problems = []
    for lf in flows:
        for i, step in enumerate(lf.flow.steps):
            if isinstance(step, s.ActionStep) and step.action == "give_reward" and step.pool:
                message = unknown_pool(settings, step.pool)
                if message:
                    name = f'"{step.id}"' if step.id else str(i + 1)
                    problems.append(_at(lf, ("steps", i, "pool"), f'flow "{lf.id}", step {name}: {message}'))
    return problems


def _commands(lf: LoadedFlow) -> list[s.CommandTrigger]:
    return [t for t in lf.flow.triggers if isinstance(t, s.CommandTrigger)]


def _at(lf: LoadedFlow, loc: Loc, message: str) -> Problem:
    return parse_yaml(lf.source, lf.path).problem(loc, message)


def _flow_references(flow: s.Flow) -> Iterator[tuple[Loc, str]]:
    for i, step in enumerate(flow.steps):
        if isinstance(step, s.ActionStep) and step.action == "start_flow" and step.flow:
            yield ("steps", i, "flow"), step.flow
        if isinstance(step, s.SayStep):
            for j, button in enumerate(step.buttons):
                if button.flow:
                    yield ("steps", i, "buttons", j, "flow"), button.flow


def _kind_problems(doc: YamlDocument) -> list[Problem]:
    """A step or trigger without a known kind key: say which key it was probably meant to have."""
    problems: list[Problem] = []
    for section, keys in (("steps", s.STEP_KEYS), ("triggers", s.TRIGGER_KEYS)):
        items = doc.data.get(section) if isinstance(doc.data, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and not any(k in item for k in keys):
                hint = next((did_you_mean(k, keys) for k in item if did_you_mean(k, keys)), "")
                kind = "step" if section == "steps" else "trigger"
                problems.append(doc.problem((section, i), f"this {kind} needs one of: {', '.join(keys)}{hint}"))
            elif not isinstance(item, dict):
                problems.append(doc.problem((section, i), f"each entry of {section} must be a mapping"))
    return problems


def _step_ids(doc: YamlDocument, flow: s.Flow) -> tuple[dict[str, int], list[Problem]]:
    index: dict[str, int] = {}
    problems = []
    for i, step in enumerate(flow.steps):
        if step.id is None:
            continue
        if step.id in index:
            problems.append(
                doc.problem(("steps", i, "id"), f'duplicate step id "{step.id}" (first at step {index[step.id] + 1})')
            )
        else:
            index[step.id] = i
    return index, problems


def _targets(step: s.AnyStep) -> Iterator[tuple[str, str]]:
    """(key, step id) pairs this step can jump to."""
    nxt = getattr(step, "next", None)
    if nxt:
        yield "next", nxt
    if isinstance(step, s.AskStep) and step.on_timeout:
        yield "on_timeout", step.on_timeout
    if isinstance(step, s.GotoStep):
        yield "goto", step.goto
    if isinstance(step, s.BranchStep):
        for case in step.branch:
            yield "branch", case.goto
        if step.otherwise:
            yield "else", step.otherwise


def _reference_problems(doc: YamlDocument, flow: s.Flow, index: dict[str, int]) -> list[Problem]:
    problems = []
    for i, step in enumerate(flow.steps):
        for key, target in _targets(step):
            if target not in index:
                loc: Loc = ("steps", i, key)
                if key == "branch":
                    case = next(j for j, c in enumerate(step.branch) if c.goto == target)  # type: ignore[union-attr]
                    loc = ("steps", i, "branch", case, "goto")
                problems.append(doc.problem(loc, f'unknown step "{target}"{did_you_mean(target, index)}'))
    return problems


def _template_problems(doc: YamlDocument, flow: s.Flow) -> list[Problem]:
    problems = []
    for loc, text, is_expression in _texts(flow):
        error = check_expression(text) if is_expression else check_template(text)
        if error:
            problems.append(doc.problem(loc, error))
    return problems


def _texts(flow: s.Flow) -> Iterator[tuple[Loc, str, bool]]:
    for i, step in enumerate(flow.steps):
        base: Loc = ("steps", i)
        if isinstance(step, s.SayStep):
            yield (*base, "say"), step.say, False
        elif isinstance(step, s.AskStep):
            yield (*base, "ask"), step.ask, False
            if step.invalid:
                yield (*base, "invalid"), step.invalid, False
        elif isinstance(step, s.BranchStep):
            for j, case in enumerate(step.branch):
                yield (*base, "branch", j, "when"), case.when, True
        elif isinstance(step, s.SetStep):
            for key, value in step.set.items():
                if isinstance(value, str):
                    yield (*base, "set", key), value, False
        elif isinstance(step, s.ActionStep):
            for key in ("summary", "description", "score", "comment", "value", "attachment"):
                value = getattr(step, key)
                if isinstance(value, str):
                    yield (*base, key), value, False
        elif isinstance(step, s.EndStep) and isinstance(step.end, str):
            yield (*base, "end"), step.end, False


def successors(flow: s.Flow, index: dict[str, int], i: int) -> list[int]:
    step = flow.steps[i]
    fall_through = [i + 1] if i + 1 < len(flow.steps) else []
    if isinstance(step, s.EndStep):
        return []
    if isinstance(step, s.ActionStep) and step.action == "start_flow":
        return []
    if isinstance(step, s.GotoStep):
        return [index[step.goto]]
    if isinstance(step, s.BranchStep):
        out = [index[c.goto] for c in step.branch]
        return out + ([index[step.otherwise]] if step.otherwise else fall_through)
    nxt = getattr(step, "next", None)
    out = [index[nxt]] if nxt else fall_through
    if isinstance(step, s.AskStep) and step.on_timeout and index[step.on_timeout] not in out:
        out.append(index[step.on_timeout])  # an unanswered question may go elsewhere
    return out


def _unreachable(doc: YamlDocument, flow: s.Flow, index: dict[str, int]) -> list[Problem]:
    seen = {0}
    todo = [0]
    while todo:
        for j in successors(flow, index, todo.pop()):
            if j not in seen:
                seen.add(j)
                todo.append(j)
    problems = []
    for i, step in enumerate(flow.steps):
        if i not in seen:
            name = f'step "{step.id}"' if step.id else f"step {i + 1}"
            problems.append(doc.problem(("steps", i), f"{name} can never be reached"))
    return problems


def _unique(problems: list[Problem]) -> list[Problem]:
    seen = set()
    out = []
    for p in sorted(problems, key=lambda p: p.line):
        if (p.line, p.message) not in seen:
            seen.add((p.line, p.message))
            out.append(p)
    return out
