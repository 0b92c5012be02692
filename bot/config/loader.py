"""Loading the settings: find config.yaml, validate it with file:line errors and a did-you-mean, check the
cross-references, then apply the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from bot.config.environment import ENV_SECRETS, apply_environment
from bot.config.references import reward_problems, staff_problems, tier_problems
from bot.config.settings import Secrets, Settings
from bot.yamlsource import Problem, SourceError, model_fields_of, parse_yaml, validation_problems

DEFAULT_CONFIG_NAME = "config.yaml"
# Keys a config file may use (for did-you-mean); secrets are not among them, so none is ever suggested.
FILE_KEYS = model_fields_of(Settings) - model_fields_of(Secrets) - {"secrets", "base_dir", "source"}


def find_config(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """--config, then ENGAGEBOT_CONFIG, then ./config.yaml; None means embedded defaults."""
    if explicit:
        return Path(explicit)
    if env.get("ENGAGEBOT_CONFIG"):
        return Path(env["ENGAGEBOT_CONFIG"])
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.exists() else None


def load_settings(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raises SourceError naming the key, line and what is wrong."""
    env = os.environ if env is None else env
    path = find_config(explicit, env)
    data: dict[str, object] = {}
    source = "(embedded defaults)"
    base_dir = Path.cwd()
    doc = None
    if path is not None:
        if not path.is_file():
            raise SourceError([Problem(str(path), 1, "config file not found")])
        doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            raise SourceError([doc.problem((), "the config file must be a mapping of sections")])
        data = dict(doc.data)
        for forbidden in ("secrets", "base_dir", "source"):
            if forbidden in data:
                message = f'"{forbidden}" cannot be set in the file: secrets come from the environment'
                raise SourceError([doc.problem((forbidden,), message)])
        for loc in doc.lines:  # a secret written under a section, e.g. telegram: {telegram_bot_token: ...}
            if loc and str(loc[-1]) in ENV_SECRETS:
                message = f'"{loc[-1]}" cannot be set in the file: set {ENV_SECRETS[str(loc[-1])]} in the environment'
                raise SourceError([doc.problem(loc, message)])
        source = str(path)
        base_dir = path.resolve().parent
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        assert doc is not None
        raise SourceError(validation_problems(doc, exc, FILE_KEYS)) from None
    if doc is not None:
        problems = staff_problems(settings, doc) + tier_problems(settings, doc) + reward_problems(settings, doc)
        if problems:
            raise SourceError(problems)
    return apply_environment(settings, env, base_dir, source)
