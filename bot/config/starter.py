"""What ships inside the package for a folder that has nothing yet: the starter flows and the commented default
config.yaml (`engagebot init` copies both out to edit; `engagebot run` serves the flows as they are).

An installed package holds them as bot/starter_flows/ and bot/config/default_config.yaml (setup.py copies them from
the repository's flows/ and config.yaml, their one source); a checkout (an editable install) reads those directly."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # bot/
_CHECKOUT = _PACKAGE.parent


def starter_flows_dir() -> Path:
    installed = _PACKAGE / "starter_flows"
    return installed if installed.is_dir() else _CHECKOUT / "flows"


def default_config_file() -> Path:
    installed = _PACKAGE / "config" / "default_config.yaml"
    return installed if installed.is_file() else _CHECKOUT / "config.yaml"
