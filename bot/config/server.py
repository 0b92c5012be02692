"""The HTTP server and the database: where the one ASGI app listens, its request body limits, the database URL."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from sqlalchemy.engine import make_url

from bot.config.section import Section

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///engagebot.db"
MAX_BODY_LIMIT = 64 * 1024 * 1024  # no request body limit may be set above this (bytes)
BODY_LIMITS_BY_PATH = {"/chat": 64 * 1024}  # built-in server.max_body_bytes_by_path
BodyLimit = Annotated[int, Field(ge=1024, le=MAX_BODY_LIMIT)]
BodyPath = Annotated[str, Field(pattern=r"^/[!-~]*$", max_length=200)]  # a path prefix: printable ASCII, no spaces


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # The public https URL, used for webhooks and printed links; empty: http://host:port.
    public_url: str = ""
    # The largest request body (bytes) any route accepts: a larger one is refused with 413 as it streams in,
    # before it is buffered (docs/operations.md, "Limits and abuse protection").
    max_body_bytes: BodyLimit = 1024 * 1024
    # Other limits by path prefix (the longest matching prefix wins), added to the built-in ones: the web chat's
    # messages are small, so /chat takes at most 64 KiB.
    max_body_bytes_by_path: dict[BodyPath, BodyLimit] = dict(BODY_LIMITS_BY_PATH)

    @field_validator("max_body_bytes_by_path")
    @classmethod
    def _keep_built_in_limits(cls, limits: dict[str, int]) -> dict[str, int]:
        # Naming one path must not lift the others' limits: what is given is added to (or replaces) the built-ins.
        return {**BODY_LIMITS_BY_PATH, **limits}


SUPPORTED_DATABASES = ("sqlite", "postgresql")
DATABASE_URL_EXAMPLES = "sqlite+aiosqlite:///engagebot.db or postgresql://user:password@host:5432/dbname"


def database_url_problem(url: str) -> str | None:
    """What is wrong with a database URL that no connection can fix (not a URL, a database we do not support), or
    None. The URL itself is never repeated: it may carry a password."""
    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    except Exception:
        return f"not a database URL; use e.g. {DATABASE_URL_EXAMPLES}"
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_DATABASES:
        return f"{backend} is not supported: use SQLite or PostgreSQL, e.g. {DATABASE_URL_EXAMPLES}"
    if backend == "postgresql" and not parsed.database:
        return f"names no database; use e.g. {DATABASE_URL_EXAMPLES}"
    return None


class DatabaseSettings(Section):
    # Kept out of repr: a URL may carry a password.
    url: str = Field(DEFAULT_DATABASE_URL, repr=False)

    @field_validator("url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        problem = database_url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url
