"""Typed answers to `ask` steps: table-driven, one row per thing a customer may send."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.conversations.answers import (
    SKIP_WORDS,
    AnswerContext,
    Parsed,
    answer_options,
    parse_choice_index,
    parse_media_answer,
    parse_text_answer,
)
from bot.conversations.schema import ANSWER_TYPES, AskStep

CTX = AnswerContext(today=date(2026, 3, 10))
MONTH_FIRST = AnswerContext(today=date(2026, 3, 10), dayfirst=False)
UK = AnswerContext(today=date(2026, 3, 10), default_region="GB")

QUALITY = ["Very good", "Good", "Bad", "Very bad"]


def ask(expect: str, **extra: Any) -> AskStep:
    fields: dict[str, Any] = {"ask": "Question?", "expect": expect, **extra}
    if expect == "choice" and "choices" not in fields:
        fields["choices"] = QUALITY
    return AskStep.model_validate(fields)


def accepted(result: Parsed, value: Any, display: str | None = None) -> None:
    assert result.ok, result
    assert result.error is None
    assert result.value == value
    assert type(result.value) is type(value)
    if display is not None:
        assert result.display == display


def refused(result: Parsed, error: str) -> None:
    assert not result.ok, result
    assert result.value is None
    assert result.error == error


# ---- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("hello", "hello"),
        ("  padded  \n", "padded"),
        ("line one\nline two", "line one\nline two"),
        ("{{ 7*7 }}", "{{ 7*7 }}"),
        ("{% if x %}y{% endif %}", "{% if x %}y{% endif %}"),
        ("مرحبا بكم", "مرحبا بكم"),
        ("שלום עולם", "שלום עולם"),
        ("🎉🎉", "🎉🎉"),
        ("nul\x00in\x07side", "nulinside"),
        ("skip", "skip"),  # not optional: a skip word is just text
        ("x" * 10_000, "x" * 10_000),
    ],
)
def test_text_accepted(text: str, value: str) -> None:
    accepted(parse_text_answer(ask("text"), text, CTX), value, value)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b", "\x00\x01"])
def test_text_empty(text: str) -> None:
    refused(parse_text_answer(ask("text"), text, CTX), "empty")


# ---- choice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "saved"),
    [
        ("Good", "Good"),
        ("very GOOD", "Very good"),
        ("bad!", "Bad"),
        ("1", "Very good"),
        ("2", "Good"),
        ("4.", "Very bad"),
        ("#3", "Bad"),
        ("3️⃣", "Bad"),
        ("verry good", "Very good"),
        ("god", "Good"),
        ("vry bad", "Very bad"),
    ],
)
def test_choice_accepted(text: str, saved: str) -> None:
    accepted(parse_text_answer(ask("choice"), text, CTX), saved, saved)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty"),
        ("excellent", "no_match"),
        ("a", "no_match"),  # too short to be a typo of anything
        ("not good", "no_match"),  # WRatio would say "Good"
        ("don't know", "no_match"),
        ("0", "out_of_range"),
        ("5", "out_of_range"),
        ("999", "out_of_range"),
    ],
)
def test_choice_refused(text: str, error: str) -> None:
    refused(parse_text_answer(ask("choice"), text, CTX), error)


def test_choice_good_bad_typo() -> None:
    step = ask("choice", choices=["Good", "Bad"])
    accepted(parse_text_answer(step, "god", CTX), "Good", "Good")
    accepted(parse_text_answer(step, "baad", CTX), "Bad", "Bad")


def test_choice_saved_value_and_label() -> None:
    step = ask("choice", choices=[{"label": "Yes, please", "value": "y"}, {"label": "Later"}])
    accepted(parse_text_answer(step, "yes, please", CTX), "y", "Yes, please")
    accepted(parse_text_answer(step, "Y", CTX), "y", "Yes, please")
    accepted(parse_text_answer(step, "1", CTX), "y", "Yes, please")
    accepted(parse_text_answer(step, "latr", CTX), "Later", "Later")


def test_choice_ambiguous() -> None:
    step = ask("choice", choices=["Yes, today", "Yes, tomorrow"])
    refused(parse_text_answer(step, "yes", CTX), "ambiguous")


def test_choice_numeric_labels_are_labels_first() -> None:
    step = ask("choice", choices=["0", "1", "2"])
    accepted(parse_text_answer(step, "1", CTX), "1", "1")
    accepted(parse_text_answer(step, "3", CTX), "2", "2")  # no such label: the third option


def test_choice_threshold_from_context() -> None:
    strict = AnswerContext(choice_threshold=99)
    refused(parse_text_answer(ask("choice"), "verry good", strict), "no_match")


# ---- yes / no -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "yes", "Yes", "YES!", "y", "yeah", "yep", "yup", "sure", "ok", "Okay.", "of course",
        "correct", "true", "👍", "👍🏽", "✅", "yess", "yesss", "yse", "yea", "ofcourse",
        "yes please", "Yes, thank you",
    ],
)  # fmt: skip
def test_yes(text: str) -> None:
    accepted(parse_text_answer(ask("yes_no"), text, CTX), True, "Yes")


@pytest.mark.parametrize(
    "text",
    [
        "no", "No.", "n", "nope", "nah", "not really", "false", "👎", "❌", "noo", "nooooo",
        "nop", "no thanks", "No, not today",
    ],
)  # fmt: skip
def test_no(text: str) -> None:
    accepted(parse_text_answer(ask("yes_no"), text, CTX), False, "No")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty"),
        ("maybe", "not_yes_no"),
        ("not sure", "not_yes_no"),
        ("no idea", "not_yes_no"),
        ("no problem", "not_yes_no"),
        ("yes no", "not_yes_no"),
        ("yes I don't", "not_yes_no"),
        ("neah", "not_yes_no"),  # as close to "nah" as to "yeah"
        ("banana", "not_yes_no"),
        ("yo", "not_yes_no"),
    ],
)
def test_yes_no_refused(text: str, error: str) -> None:
    refused(parse_text_answer(ask("yes_no"), text, CTX), error)


# ---- rating, nps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1), ("5", 5), (" 3 ", 3), ("4/5", 4), ("4 / 5", 4), ("4 out of 5", 4),
        ("4 stars", 4), ("1 star", 1), ("⭐⭐⭐", 3), ("⭐️⭐️⭐️⭐️⭐️", 5), ("★★", 2),
        ("one", 1), ("Five", 5), ("four stars", 4), ("4️⃣", 4), ("٤", 4), ("4.", 4),
        ("8/10", 4), ("10/10", 5), ("2 out of 10", 1),  # on another scale, where it lands on a button
    ],
)  # fmt: skip
def test_rating_accepted(text: str, value: int) -> None:
    accepted(parse_text_answer(ask("rating"), text, CTX), value, str(value))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty"),
        ("0", "out_of_range"),
        ("6", "out_of_range"),
        ("-1", "out_of_range"),
        ("zero", "out_of_range"),
        ("7/10", "out_of_range"),  # between two buttons
        ("⭐⭐⭐⭐⭐⭐", "out_of_range"),
        ("4.5", "not_an_integer"),
        ("3,5", "not_an_integer"),
        ("great", "not_a_number"),
        ("4 apples", "not_a_number"),
        ("1" * 500, "not_a_number"),
    ],
)
def test_rating_refused(text: str, error: str) -> None:
    refused(parse_text_answer(ask("rating"), text, CTX), error)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("10", 10),
        ("8/10", 8),
        ("9 out of 10", 9),
        ("zero", 0),
        ("ten", 10),
        ("7", 7),
        ("eight", 8),
        ("4/5", 8),
    ],
)
def test_nps_accepted(text: str, value: int) -> None:
    accepted(parse_text_answer(ask("nps"), text, CTX), value, str(value))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("11", "out_of_range"),
        ("-1", "out_of_range"),
        ("8/5", "out_of_range"),
        ("7.5", "not_an_integer"),
        ("eleven", "not_a_number"),
        ("", "empty"),
    ],
)
def test_nps_refused(text: str, error: str) -> None:
    refused(parse_text_answer(ask("nps"), text, CTX), error)


# ---- number ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42), ("-3", -3), ("+7", 7), ("−2", -2), ("3.5", 3.5), ("3,5", 3.5),
        ("1,000", 1000), ("12,500", 12500), ("1,000,000", 1_000_000), ("1.000.000", 1_000_000),
        ("1,234.5", 1234.5), ("1.234,5", 1234.5), ("1 000", 1000), ("1'000", 1000),
        ("0,125", 0.125), ("1234,5", 1234.5), ("1.000", 1), ("2.0", 2), (".5", 0.5),
        ("٣", 3), ("٣٫٥", 3.5), ("４２", 42),
    ],
)  # fmt: skip
def test_number_accepted(text: str, value: int | float) -> None:
    accepted(parse_text_answer(ask("number"), text, CTX), value, str(value))


@pytest.mark.parametrize(
    "text",
    [
        "abc", "nan", "inf", "-inf", "1e5", "0x10", "1,2,3", "1,00,000", "1.234.5", "1,000.000,5",
        "3 5", "12 34", "5%", "$5", "1.", "--1", "1" * 100, "½",
    ],
)  # fmt: skip
def test_number_refused(text: str) -> None:
    refused(parse_text_answer(ask("number"), text, CTX), "not_a_number")


@pytest.mark.parametrize(
    ("text", "ok"),
    [("1", True), ("10", True), ("5.5", True), ("0", False), ("10.5", False), ("1,000", False)],
)
def test_number_min_max(text: str, ok: bool) -> None:
    result = parse_text_answer(ask("number", min=1, max=10), text, CTX)
    assert result.ok is ok
    if not ok:
        assert result.error == "out_of_range"


def test_number_empty() -> None:
    refused(parse_text_answer(ask("number"), " ", CTX), "empty")


# ---- email, phone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe@EXAMPLE.com ", "Jane.Doe@example.com"),
        ("jane+news@mail.example.co.uk", "jane+news@mail.example.co.uk"),
    ],
)
def test_email_accepted(text: str, value: str) -> None:
    accepted(parse_text_answer(ask("email"), text, CTX), value, value)


@pytest.mark.parametrize(
    "text",
    ["jane", "jane@", "@example.com", "jane@example", "jane doe@example.com", "a@b@c.com",
     "my email is jane@example.com", "x" * 400 + "@example.com"],
)  # fmt: skip
def test_email_refused(text: str) -> None:
    refused(parse_text_answer(ask("email"), text, CTX), "invalid_email")


@pytest.mark.parametrize(
    ("text", "ctx", "value"),
    [
        ("(202) 456-1111", CTX, "+12024561111"),
        ("202.456.1111", CTX, "+12024561111"),
        ("+44 20 7946 0958", CTX, "+442079460958"),
        ("020 7946 0958", UK, "+442079460958"),
        ("+1 202 456 1111", UK, "+12024561111"),
        ("+33 1 42 68 53 00", CTX, "+33142685300"),
    ],
)
def test_phone_accepted(text: str, ctx: AnswerContext, value: str) -> None:
    accepted(parse_text_answer(ask("phone"), text, ctx), value)


@pytest.mark.parametrize(
    ("text", "ctx"),
    [
        ("12345", CTX),
        ("020 7946 0958", CTX),  # a London number read as American
        ("call me", CTX),
        ("+999 123", CTX),
        ("+1" * 100, CTX),
        ("202 456 1111", AnswerContext(default_region="ZZ")),
        ("202 456 1111", AnswerContext(default_region="")),
    ],
)
def test_phone_refused(text: str, ctx: AnswerContext) -> None:
    refused(parse_text_answer(ask("phone"), text, ctx), "invalid_phone")


# ---- date -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ctx", "value", "display"),
    [
        ("today", CTX, "2026-03-10", "10 March 2026"),
        ("Tomorrow", CTX, "2026-03-11", "11 March 2026"),
        ("yesterday!", CTX, "2026-03-09", "9 March 2026"),
        ("2026-03-14", CTX, "2026-03-14", "14 March 2026"),
        ("2026-03-04", CTX, "2026-03-04", "4 March 2026"),
        ("2026/03/04", CTX, "2026-03-04", "4 March 2026"),
        ("14 March", CTX, "2026-03-14", "14 March 2026"),
        ("14th of March", CTX, "2026-03-14", "14 March 2026"),
        ("March 14 2026", CTX, "2026-03-14", "14 March 2026"),
        ("march 14, 2026", CTX, "2026-03-14", "14 March 2026"),
        ("14/03/2026", CTX, "2026-03-14", "14 March 2026"),
        ("14.03.2026", CTX, "2026-03-14", "14 March 2026"),
        ("03/04/2026", CTX, "2026-04-03", "3 April 2026"),
        ("03/04/2026", MONTH_FIRST, "2026-03-04", "4 March 2026"),
        ("1 January 2027", CTX, "2027-01-01", "1 January 2027"),
    ],
)
def test_date_accepted(text: str, ctx: AnswerContext, value: str, display: str) -> None:
    accepted(parse_text_answer(ask("date"), text, ctx), value, display)


@pytest.mark.parametrize(
    "text",
    [
        "hello", "soon", "march", "14", "2026", "3pm", "monday", "2026-02-30", "31/02/2026",
        "14 march 2026 banana", "next week", "99999999999", "1" * 100, "🎂",
    ],
)  # fmt: skip
def test_date_refused(text: str) -> None:
    refused(parse_text_answer(ask("date"), text, CTX), "invalid_date")


def test_date_defaults_to_today_in_utc() -> None:
    result = parse_text_answer(ask("date"), "today", AnswerContext())
    assert result.ok
    assert date.fromisoformat(result.value)


# ---- media ----------------------------------------------------------------------------------


def test_media_answer() -> None:
    accepted(
        parse_media_answer(ask("media"), "photo", "file-123"),
        {"kind": "photo", "ref": "file-123"},
        "(photo)",
    )


@pytest.mark.parametrize("expect", [e for e in ANSWER_TYPES if e != "media"])
def test_media_where_text_expected(expect: str) -> None:
    refused(parse_media_answer(ask(expect), "photo", "file-123"), "text_expected")


@pytest.mark.parametrize("text", ["here it is", "", "skip"])
def test_text_where_media_expected(text: str) -> None:
    refused(parse_text_answer(ask("media"), text, CTX), "media_expected")


def test_optional_media_skipped() -> None:
    assert parse_text_answer(ask("media", optional=True), "skip", CTX).value is None
    assert parse_text_answer(ask("media", optional=True), "skip", CTX).ok


# ---- skip -----------------------------------------------------------------------------------


SKIPS = ["skip", "SKIP", " Pass ", "-", "–", "no thanks", "Next", "skip."]


# "no thanks" answers a yes/no question: see test_skip_words_that_answer.
@pytest.mark.parametrize(
    ("expect", "text"),
    [(e, t) for e in ANSWER_TYPES for t in SKIPS if (e, t) != ("yes_no", "no thanks")],
)
def test_skip_on_optional(expect: str, text: str) -> None:
    result = parse_text_answer(ask(expect, optional=True), text, CTX)
    assert result == Parsed(ok=True, value=None, display="Skipped")


def test_skip_words() -> None:
    assert {"skip", "pass", "-", "no thanks", "next"} <= SKIP_WORDS


def test_skip_words_that_answer() -> None:
    accepted(parse_text_answer(ask("yes_no", optional=True), "no thanks", CTX), False, "No")
    step = ask("choice", choices=["Next", "Later"], optional=True)
    accepted(parse_text_answer(step, "next", CTX), "Next", "Next")
    accepted(parse_text_answer(step, "skip", CTX), None, "Skipped")


@pytest.mark.parametrize(
    ("expect", "text"),
    [("rating", "skip"), ("number", "-"), ("email", "skip"), ("date", "pass"), ("choice", "next")],
)
def test_skip_not_optional(expect: str, text: str) -> None:
    assert not parse_text_answer(ask(expect), text, CTX).ok


# ---- buttons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "options"),
    [
        (ask("choice", choices=["A", {"label": "B", "value": "b"}]), [("A", "A"), ("B", "b")]),
        (ask("yes_no"), [("Yes", True), ("No", False)]),
        (ask("rating"), [(str(n), n) for n in range(1, 6)]),
        (ask("nps"), [(str(n), n) for n in range(11)]),
        (ask("text"), []),
        (ask("number"), []),
        (ask("email"), []),
        (ask("phone"), []),
        (ask("date"), []),
        (ask("media"), []),
    ],
)
def test_answer_options(step: AskStep, options: list[tuple[str, Any]]) -> None:
    assert answer_options(step) == options


@pytest.mark.parametrize(
    ("step", "index", "value", "display"),
    [
        (ask("choice"), 0, "Very good", "Very good"),
        (ask("choice"), 3, "Very bad", "Very bad"),
        (ask("yes_no"), 0, True, "Yes"),
        (ask("yes_no"), 1, False, "No"),
        (ask("rating"), 4, 5, "5"),
        (ask("nps"), 0, 0, "0"),
        (ask("nps"), 10, 10, "10"),
    ],
)
def test_choice_index(step: AskStep, index: int, value: Any, display: str) -> None:
    accepted(parse_choice_index(step, index), value, display)


@pytest.mark.parametrize(
    ("step", "index"),
    [
        (ask("choice"), 4),
        (ask("choice"), -1),
        (ask("yes_no"), 2),
        (ask("rating"), 5),
        (ask("nps"), 11),
        (ask("text"), 0),
        (ask("date"), 0),
    ],
)
def test_choice_index_out_of_range(step: AskStep, index: int) -> None:
    refused(parse_choice_index(step, index), "out_of_range")


# ---- never raises ---------------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00",
    "\x00\x01\x02\xff\xfe",
    "\ud800",
    "\udcff lone surrogate",
    "\u200b\u200d\ufeff",
    "x" * 10_000,
    "1" * 10_000,
    "9" * 5_000 + ".5",
    "," * 1_000,
    ". , . ,",
    "-" * 100,
    "+",
    "/",
    "⭐" * 10_000,
    "👍" * 1_000,
    "🏳️‍🌈👨‍👩‍👧‍👦",
    "مرحبا، أريد المساعدة",
    "١٢٣٤٥٦٧٨٩٠",
    "שלום, אני צריך עזרה",
    "\u202eevil\u202c",
    "{{ 7*7 }}",
    "${jndi:ldap://x}",
    "'; DROP TABLE answers; --",
    "<script>alert(1)</script>",
    "%s%s%s%n",
    "NaN",
    "-Infinity",
    "1e309",
    "0" * 400 + "1",
    "1/0",
    "0/0 stars",
    "99999999999999999999999999/5",
    "31/31/31",
    "0000-00-00",
    "9999-99-99",
    "2026-13-45",
    "+" + "9" * 300,
    "@" * 50,
    "a@" + "b" * 300 + ".com",
    "Z̴͈̓a̷̛͎l̸͉̿g̶͚̕o̵̠͆",
    "ｙｅｓ",
    "\n\n\n",
    "\t",
]
CONTEXTS = [
    CTX,
    AnswerContext(),
    AnswerContext(default_region="ZZ", dayfirst=False, choice_threshold=0),
    AnswerContext(default_region="", choice_threshold=100),
]


@pytest.mark.parametrize("expect", ANSWER_TYPES)
@pytest.mark.parametrize("optional", [False, True])
def test_never_raises(expect: str, optional: bool) -> None:
    step = ask(expect, optional=optional)
    for ctx in CONTEXTS:
        for text in NASTY:
            result = parse_text_answer(step, text, ctx)
            assert isinstance(result, Parsed)
            assert result.ok == (result.error is None)
            assert isinstance(result.display, str)
            if expect == "text" and result.ok:
                result.value.encode("utf-8")  # savable: no lone surrogates
                assert "\x00" not in result.value
    for index in (-(10**9), -1, 0, 1, 10, 10**9):
        assert isinstance(parse_choice_index(step, index), Parsed)
    assert isinstance(parse_media_answer(step, "", ""), Parsed)


def test_template_text_stays_literal() -> None:
    accepted(parse_text_answer(ask("text"), "{{ 7*7 }}", CTX), "{{ 7*7 }}")
