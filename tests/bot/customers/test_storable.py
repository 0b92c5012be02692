"""Text and numbers the databases can store: problems named by their JSON path, and values stored before the checks
cleaned so that they can be stored and sent again."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from bot.customers import storable


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ({"name": "Ana\x00"}, [("name", "contains a NUL character (\\u0000), which cannot be stored")]),
        ({"items": [{"sku": "ok"}, {"sku": "x\ud800"}]},
         [("items[1].sku", "contains a lone surrogate (\\ud800), which is not Unicode text")]),
        ({"a\x00b": 1}, [("", 'has a key "a\\x00b" that contains a NUL character (\\u0000), which cannot be stored')]),
        ({"a\x00b": {"c": "\udfff"}},
         [("", 'has a key "a\\x00b" that contains a NUL character (\\u0000), which cannot be stored'),
          ("a\\x00b.c", "contains a lone surrogate (\\udfff), which is not Unicode text")]),
        ({"emoji": "\U0001f600 José", "n": 1, "ok": [True, None, 2.5]}, []),
    ],
)  # fmt: skip
def test_text_the_databases_cannot_store_is_named_by_its_path(value: Any, problems: list[tuple[str, str]]) -> None:
    assert [(p.field, p.message) for p in storable.text_problems(value, "")] == problems


def test_paths_start_where_the_value_is() -> None:
    [problem] = storable.text_problems({"customer": {"name": "\x00"}}, "[3]")
    assert problem.field == "[3].customer.name"


def test_numbers_that_cannot_be_stored() -> None:
    value = {"a": float("nan"), "b": [1, float("-inf"), 2.5], "c": True, "d": 10**30}
    found = storable.number_problems(value, "data", "is not allowed")
    assert [(p.field, p.message) for p in found] == [("data.a", '"nan" is not allowed'),
                                                     ("data.b[1]", '"-inf" is not allowed')]  # fmt: skip
    bounded = storable.number_problems(value, "data", "is too big", below=10**15)
    assert [p.field for p in bounded] == ["data.a", "data.b[1]", "data.d"]


def test_stored_values_are_cleaned_into_something_both_databases_and_json_take() -> None:
    stored = {"plan": "pro\x00", "note\x00": "x", "name": "\ud800 lone", "score": float("nan"),
              "deep": [{"v": float("-inf")}, "ok"], "keep": [1, 2.5, True, None, "José \U0001f600"]}  # fmt: skip
    assert storable.needs_cleaning(stored)

    clean = storable.cleaned(stored)

    assert clean == {"plan": "pro", "note": "x", "name": "\ufffd lone", "score": "NaN",
                     "deep": [{"v": "-Infinity"}, "ok"], "keep": [1, 2.5, True, None, "José \U0001f600"]}  # fmt: skip
    assert list(clean) == ["plan", "note", "name", "score", "deep", "keep"]  # the order kept
    assert not storable.needs_cleaning(clean)
    json.dumps(clean, allow_nan=False, ensure_ascii=False).encode("utf-8")  # what an HTTP answer does
    assert math.isnan(stored["score"])  # the original is left alone


def test_deeply_nested_values_are_walked_without_recursion() -> None:
    deep: Any = "x\x00"
    for _ in range(100_000):
        deep = [deep]
    assert [p.field for p in storable.text_problems(deep, "data")] == ["data" + "[0]" * 100_000]
    inner = storable.cleaned(deep)
    for _ in range(100_000):
        inner = inner[0]
    assert inner == "x"


@pytest.mark.parametrize(
    ("stored", "attributes"),
    [({"plan": "pro"}, {"plan": "pro"}), ({"plan": "pro\x00"}, {"plan": "pro"}), ([1, 2], {}), ("text", {}),
     (None, {})],
)  # fmt: skip
def test_stored_attributes_are_read_as_a_clean_dict_of_their_own(stored: Any, attributes: dict[str, Any]) -> None:
    read = storable.attributes_of(stored)
    assert read == attributes and read is not stored
