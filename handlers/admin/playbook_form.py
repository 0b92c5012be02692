"""A playbook section's form: the settings as form values and back. Repeatable rows (win-back steps, activation
nudges, cross-sell rules, reward pools) are fields named ROWS.N.FIELD; a blank row is ignored and a row with its
Remove box ticked is dropped, so adding and removing rows works without JavaScript. Each problem the core finds
(steps.0.flow, rules.helmet.tiers, reasons.2) is put at the field the page shows for it. Everything else is checked
by the core (bot/admin/playbook.py) as config.yaml is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.config.section import KEY_PATTERN, Section

# The repeatable rows of each section: their fields, in the form's order. Rules and pools have a name (the key under
# which config.yaml holds them).
ROWS: dict[str, tuple[str, ...]] = {
    "steps": ("after_days", "flow"),
    "nudges": ("after_days", "flow"),
    "rules": ("name", "bought", "offer", "tiers", "text", "flow", "cooldown_days", "complaint_days"),
    "pools": ("name", "title", "description", "template", "alert_below"),
}
NAMED_ROWS = {"rules": "rule", "pools": "pool"}
WORDS = ("reasons", "stop_on")  # comma-separated words
TICKED = ("fixable_reasons", "tiers")  # checkboxes, one value each
GOODWILL = "goodwill_on_sla_breach"  # a select of the pools, or none


@dataclass
class SectionForm:
    """What the form shows: the values as typed (rows as lists), and the problems by field name."""

    values: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)

    def problem(self, key: str) -> str:
        return self.problems.get(key, "")


def _shown(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def form_of(name: str, section: Section) -> SectionForm:
    values: dict[str, Any] = {}
    for key, value in section.model_dump(mode="python").items():
        if key in NAMED_ROWS:
            values[key] = [{"name": n} | {k: _shown(v) for k, v in row.items()} for n, row in value.items()]
        elif key in ROWS:
            values[key] = [{k: _shown(v) for k, v in row.items()} for row in value]
        elif key == GOODWILL:
            values[key] = value["pool"] if value else ""
        elif key in WORDS:
            values[key] = ", ".join(value)
        else:
            values[key] = list(value) if isinstance(value, tuple) else _shown(value)
    return SectionForm(values)


def _text(form: FormData, key: str) -> str:
    # Browsers send line ends as CRLF; the texts are the customer's to read, so only those are normalised.
    return str(form.get(key, "")).replace("\r\n", "\n")


def _rows(form: FormData, key: str, problems: dict[str, str]) -> tuple[list[dict[str, Any]], Any]:
    """The rows as typed (to show again), and their data: a list, or a mapping by name for rules and pools."""
    numbers = sorted({int(m.group(1)) for k in form for m in [re.match(rf"{key}\.(\d+)\.", k)] if m})
    shown: list[dict[str, Any]] = []
    for n in numbers:
        prefix = f"{key}.{n}."
        if form.get(prefix + "remove") == "on":
            continue
        row = {f: ([str(t) for t in form.getlist(prefix + f)] if f in TICKED else _text(form, prefix + f).strip())
               for f in ROWS[key]}  # fmt: skip
        if any(row.values()):
            shown.append(row)
    # An empty field is left out: its default applies, or the model says it is required.
    data = [{f: v for f, v in row.items() if v != "" or f == "name"} for row in shown]
    if key not in NAMED_ROWS:
        return shown, data
    what, named = NAMED_ROWS[key], {}
    for i, row in enumerate(data):
        row_name = row.pop("name")
        if not row_name:
            problems[f"{key}.{i}.name"] = f"give the {what} a name"
        elif not re.fullmatch(KEY_PATTERN, row_name) or len(row_name) > 60:
            problems[f"{key}.{i}.name"] = "lower case letters, digits, _ and -, starting with a letter"
        elif row_name in named:
            problems[f"{key}.{i}.name"] = f'the name "{row_name}" is used twice'
        named[row_name] = row
    return shown, named


def read(name: str, form: FormData) -> tuple[SectionForm, dict[str, Any]]:
    """The values as typed (to show again) and the data to check as the section; problems of rows that cannot be
    read (a rule without a name) are in the form already."""
    values: dict[str, Any] = {}
    data: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, spec in PLAYBOOK_SECTIONS[name].model_fields.items():
        if key in ROWS:
            values[key], data[key] = _rows(form, key, problems)
        elif isinstance(spec.default, bool):
            values[key] = data[key] = form.get(key) == "on"
        elif key in TICKED:
            values[key] = data[key] = [str(v) for v in form.getlist(key)]
        elif key in WORDS:
            values[key] = _text(form, key)
            data[key] = [word.strip() for word in values[key].split(",") if word.strip()]
        elif key == GOODWILL:
            values[key] = _text(form, key).strip()
            data[key] = {"pool": values[key]} if values[key] else None
        elif key.endswith("_text"):
            values[key] = data[key] = _text(form, key)
        else:
            values[key] = data[key] = _text(form, key).strip()
    return SectionForm(values, problems), data


def place(form: SectionForm, problems: dict[str, str]) -> None:
    """Put each of the core's problems at the field the page shows for it: a named row's by its place in the form,
    a list item's (reasons.2) at its list, one the page has no field for at the top of the form."""
    places = {key: key for key in form.values}
    for rows, fields in ROWS.items():
        for i, row in enumerate(form.values.get(rows, [])):
            label = row.get("name", str(i)) if rows in NAMED_ROWS else str(i)
            places.update({f"{rows}.{label}.{f}": f"{rows}.{i}.{f}" for f in fields})
            places[f"{rows}.{label}"] = f"{rows}.{i}.name" if rows in NAMED_ROWS else f"{rows}.{i}.{fields[0]}"
    for key, message in problems.items():
        parts = key.split(".")
        while parts and ".".join(parts) not in places:
            parts.pop()
        form.problems.setdefault(places[".".join(parts)] if parts else "", message)
