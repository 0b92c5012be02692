"""reports.digest in config.yaml: validated like every section, each mistake named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.yamlsource import SourceError


def load(tmp_path: Path, text: str) -> Settings:
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config, env={})


def test_no_digest_unless_configured(tmp_path: Path) -> None:
    assert load(tmp_path, "business: {name: Shop}\n").reports.digest is None


def test_a_digest_with_its_defaults(tmp_path: Path) -> None:
    digest = load(tmp_path, "reports:\n  digest:\n    channel: C0LEADS\n").reports.digest
    assert digest is not None
    assert (digest.channel, digest.day, digest.hour, digest.top) == ("C0LEADS", "mon", 9, 5)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("    channel: C0LEADS\n    day: moon\n", "config.yaml:4: reports.digest.day: 'moon' is not one of mon, tue"),
        ("    channel: C0LEADS\n    hour: 24\n", "config.yaml:4: reports.digest.hour:"),
        ("    channel: 'support leads'\n", "config.yaml:3: reports.digest.channel:"),
        ("    day: fri\n", 'config.yaml:2: "channel" is required here (reports.digest.channel)'),
        ("    channel: C0LEADS\n    hours: 9\n", 'config.yaml:4: unknown key "hours" (did you mean "hour"?)'),
    ],
)
def test_mistakes_are_named_with_their_line(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(SourceError) as refused:
        load(tmp_path, "reports:\n  digest:\n" + body)
    problems = "\n".join(str(p) for p in refused.value.problems)
    assert expected in problems
