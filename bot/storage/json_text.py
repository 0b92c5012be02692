"""JSON as the database columns hold it, written and read with orjson, for the engine (`json_serializer`).

Every message writes a handful of JSON values (its payload, the run's answers and context, the outbox row's
replies, the step log's) and reads a few (the customer's attributes and tags, the run's): the standard library's
encoder was 7-9% of the CPU of the statements that carry them (bench/bench_inbound.py profiles), about ten times
orjson's. What orjson refuses and the standard library takes (a string with a lone surrogate, an integer of more
than 64 bits; in stored text, a bare NaN) goes through the standard library as before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: "a"} is written {"1": "a"}, as json.dumps writes it


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
