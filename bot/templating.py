"""Sandboxed Jinja2 for flow texts and conditions; customer text is only ever data, never a template."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger(__name__)

_env = ImmutableSandboxedEnvironment(autoescape=False, undefined=Undefined, keep_trailing_newline=False)


def check_template(source: str) -> str | None:
    """None when `source` compiles, else the syntax error's message."""
    try:
        _compiled(source)
    except TemplateSyntaxError as exc:
        return f"template error: {exc.message} (template line {exc.lineno})"
    return None


def check_expression(source: str) -> str | None:
    try:
        _expression(source)
    except TemplateSyntaxError as exc:
        return f"condition error: {exc.message}"
    return None


def render(source: str, context: dict[str, Any]) -> str:
    """Render an admin-written template; a failure is logged and the raw text is shown instead."""
    if "{" not in source:
        return source
    try:
        return _compiled(source).render(context)
    except Exception:
        log.exception("template failed to render; showing it unrendered: %r", source[:200])
        return source


def evaluate(expression: str, context: dict[str, Any]) -> bool:
    """Evaluate a branch condition; an error counts as false (and is logged)."""
    try:
        result = _expression(expression)(context)
    except Exception:
        log.exception("condition failed to evaluate: %r", expression)
        return False
    return bool(result) and not isinstance(result, Undefined)


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    return _env.from_string(source)


@lru_cache(maxsize=4096)
def _expression(source: str) -> Any:
    return _env.compile_expression(source, undefined_to_none=True)
