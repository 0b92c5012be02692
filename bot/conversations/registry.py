"""The flows in force: last good version per file, every version seen, and the indexes built from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow, cross_check, flow_files, parse_flow
from bot.yamlsource import Problem, SourceError

log = logging.getLogger(__name__)


@dataclass
class FlowIndexes:
    commands: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[str]] = field(default_factory=dict)
    menu: list[tuple[str, str]] = field(default_factory=list)


class FlowRegistry:
    """Holds flows by id. A refused edit leaves the last good version of that file in force."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._by_path: dict[str, LoadedFlow] = {}
        self._current: dict[str, LoadedFlow] = {}
        self._versions: dict[tuple[str, str], LoadedFlow] = {}
        self.indexes = FlowIndexes()
        self.generation = 0
        self._started = False  # set after the first load
        # Published sources served instead of the file at that path (or with no file): heads of the flow store the
        # files do not hold. Empty without a flow store, so then the folder alone is in force, as it always was.
        self._published: dict[str, str] = {}
        self._retired: set[str] = set()
        self._parsed: dict[str, LoadedFlow] = {}  # path -> its file's last parse, reused while the text is unchanged

    def set_published(self, sources: dict[str, str], retired: set[str] | None = None) -> None:
        """Serve these sources (by path) from the next `load` on, instead of the files at those paths; and nothing at
        the `retired` paths (flows retired in the console), file or not."""
        self._published = dict(sources)
        self._retired = set(retired or ())

    # ---- loading ---------------------------------------------------------------------------

    def load(self) -> list[Problem]:
        """(Re)read the folder. Returns the problems, for the caller to report once (the watcher logs refused
        edits, `engagebot run` lists flows not in force in its banner); valid files are in force either way."""
        if not self.directory.is_dir():
            return [Problem(str(self.directory), 1, "flows folder not found")]
        problems: list[Problem] = []
        candidates: dict[str, LoadedFlow] = {}
        paths: dict[str, Path | None] = {str(path): path for path in flow_files(self.directory)}
        paths.update({key: None for key in self._published if key not in paths})
        for key in self._retired:
            paths.pop(key, None)
        for key in sorted(paths):
            try:
                candidates[key] = self._parse(key, paths[key])
            except SourceError as exc:
                problems += exc.problems
                if key in self._by_path:
                    candidates[key] = self._by_path[key]
        # Files unchanged since the last load come first, so an edit that takes another file's flow id or
        # command is the one refused, not the file already in force.
        ordered = sorted(candidates.values(), key=lambda lf: not self._is_in_force(lf))
        flows, cross = cross_check(ordered)
        if cross:
            problems += cross
        accepted = {lf.path: lf for lf in flows.values()}
        for path in candidates:
            # A file refused by a cross-file check keeps its previous good version, if it had one.
            if path not in accepted and path in self._by_path and self._by_path[path].id not in flows:
                accepted[path] = self._by_path[path]
        for path in {p.path for p in cross} & accepted.keys():
            # An edit that names an unknown flow is refused too, and such a new file is not loaded. At start-up
            # the flow loads anyway (reported), so one broken file doesn't also take down the flows linking to it.
            previous = self._by_path.get(path)
            if previous is not None and previous.version != accepted[path].version:
                accepted[path] = previous
            elif previous is None and self._started:
                del accepted[path]
        changed = {p: lf.version for p, lf in accepted.items()} != {p: lf.version for p, lf in self._by_path.items()}
        self._by_path = accepted
        self._current = {lf.id: lf for lf in accepted.values()}
        for lf in accepted.values():
            self._versions[(lf.id, lf.version)] = lf
        if changed:
            self.generation += 1
            self.indexes = _build_indexes(self._current)
            log.info("flows in force: %s", ", ".join(sorted(self._current)) or "(none)")
        self._started = True
        return problems

    def install(self, flows: list[LoadedFlow]) -> None:
        """Put exactly these flows in force, read from nowhere (the console's preview: the flows in force elsewhere
        with a draft among them)."""
        self._by_path = {lf.path: lf for lf in flows}
        self._current = {lf.id: lf for lf in flows}
        for lf in flows:
            self._versions[(lf.id, lf.version)] = lf
        self.generation += 1
        self.indexes = _build_indexes(self._current)
        self._started = True

    def _parse(self, key: str, path: Path | None) -> LoadedFlow:
        source = self._published.get(key)
        if source is None:
            assert path is not None
            return self._parse_file(path)
        previous = self._by_path.get(key)
        return previous if previous is not None and previous.source == source else parse_flow(source, key)

    def _parse_file(self, path: Path) -> LoadedFlow:
        key = str(path)
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SourceError([Problem(key, 1, "not a UTF-8 text file")]) from None
        cached = self._parsed.get(key)
        if cached is None or cached.source != source:
            cached = self._parsed[key] = parse_flow(source, key)
        return cached

    def read_folder(self) -> tuple[dict[str, LoadedFlow], list[Problem]]:
        """The folder's valid flows and every problem, as `flows check` sees them (nothing changes in force); the
        parses are kept for the next `load`, which then reads the files without parsing them again."""
        if not self.directory.is_dir():
            return {}, [Problem(str(self.directory), 1, "flows folder not found")]
        loaded: list[LoadedFlow] = []
        problems: list[Problem] = []
        for path in flow_files(self.directory):
            try:
                loaded.append(self._parse_file(path))
            except SourceError as exc:
                problems += exc.problems
        flows, cross = cross_check(loaded)
        return flows, problems + cross

    def _is_in_force(self, lf: LoadedFlow) -> bool:
        previous = self._by_path.get(lf.path)
        return previous is not None and previous.version == lf.version

    def remember(self, flow_id: str, version: str, source: str, path: str) -> LoadedFlow:
        """Re-admit an older version (read back from the database) for a run started on it."""
        lf = parse_flow(source, path)
        self._versions[(flow_id, version)] = lf
        return lf

    # ---- lookups ---------------------------------------------------------------------------

    def current(self, flow_id: str) -> LoadedFlow | None:
        return self._current.get(flow_id)

    def version(self, flow_id: str, version: str) -> LoadedFlow | None:
        return self._versions.get((flow_id, version))

    def all(self) -> list[LoadedFlow]:
        return sorted(self._current.values(), key=lambda lf: lf.path)


def _build_indexes(flows: dict[str, LoadedFlow]) -> FlowIndexes:
    """Commands, events and menu entries; what free text means is understanding.py's (built from the same flows)."""
    indexes = FlowIndexes()
    for lf in sorted(flows.values(), key=lambda lf: lf.path):
        for trigger in lf.flow.triggers:
            if isinstance(trigger, s.CommandTrigger):
                indexes.commands[trigger.command] = lf.id
            elif isinstance(trigger, s.EventTrigger):
                indexes.events.setdefault(trigger.event, []).append(lf.id)
            elif isinstance(trigger, s.MenuTrigger):
                indexes.menu.append((trigger.menu, lf.id))
    return indexes
