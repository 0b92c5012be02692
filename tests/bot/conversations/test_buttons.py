"""Button payloads: the reader takes exactly what the writer makes, and nothing the writer makes is too long for
Telegram or out of the database's integer range."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.config import CampaignButton
from bot.conversations import buttons
from bot.conversations.buttons import MAX_INT, AnswerButton, FlowButton, InvalidButton, WordButton
from bot.conversations.schema import ButtonSpec

VALID = [
    ("a:1:0:0", AnswerButton(1, 0, 0)),
    ("a:42:7:10", AnswerButton(42, 7, 10)),
    ("a:12:3:skip", AnswerButton(12, 3, None)),
    (f"a:{MAX_INT}:{MAX_INT}:{MAX_INT}", AnswerButton(MAX_INT, MAX_INT, MAX_INT)),
    ("f:value_tips", FlowButton("value_tips")),
    ("f:x", FlowButton("x")),
    ("f:win-back_2", FlowButton("win-back_2")),
    ("f:" + "a" * 60, FlowButton("a" * 60)),
    ("g:menu", WordButton("menu")),
    ("g:human", WordButton("human")),
    ("g:retry", WordButton("retry")),
]

INVALID = [
    # (what is wrong, the payload)
    ("a run id past 64 bits", "a:9223372036854775808:0:0"),
    ("a run id past 32 bits", "a:2147483648:0:0"),
    ("a step past 32 bits", "a:1:2147483648:0"),
    ("an option past 32 bits", "a:1:0:2147483648"),
    ("eleven digits", "a:10000000000:0:0"),
    ("run id zero", "a:0:0:0"),
    ("a negative run id", "a:-1:0:0"),
    ("a negative step", "a:1:-1:0"),
    ("a negative option", "a:1:0:-1"),
    ("a plus sign", "a:+1:0:0"),
    ("leading zeros", "a:01:0:0"),
    ("a zero step written twice", "a:1:00:0"),
    ("letters", "a:abc:0:0"),
    ("hex", "a:0x1:0:0"),
    ("an exponent", "a:1:0:1e3"),
    ("a decimal point", "a:1.0:0:0"),
    ("full-width digits", "a:１:0:0"),
    ("a superscript", "a:1:0:²"),
    ("Arabic-Indic digits", "a:٣:0:0"),
    ("underscores in a number", "a:1_000:0:0"),
    ("Skip in capitals", "a:1:0:SKIP"),
    ("a space", "a: 1:0:0"),
    ("a trailing space", "a:1:0:0 "),
    ("a trailing newline", "a:1:0:0\n"),
    ("a NUL", "a:1:0:0\x00"),
    ("too few parts", "a:1:0"),
    ("too many parts", "a:1:0:0:0"),
    ("empty parts", "a:::"),
    ("only the kind", "a"),
    ("only the kind and a colon", "a:"),
    ("no flow", "f:"),
    ("a flow id in capitals", "f:NPS"),
    ("a flow id with a space", "f:value tips"),
    ("a flow id starting with a digit", "f:1st"),
    ("a flow id with a path", "f:../ticket_followup"),
    ("a flow id with a trailing newline", "f:survey\n"),
    ("a flow id longer than a flow may have", "f:" + "a" * 61),
    ("a non-ASCII flow id", "f:café"),
    ("an unknown word", "g:stop"),
    ("another global word", "g:cancel"),
    ("resubscribe", "g:resubscribe"),
    ("a word in capitals", "g:MENU"),
    ("a word with a space", "g:menu "),
    ("no word", "g:"),
    ("no kind", "hello"),
    ("an unknown kind", "b:1"),
    ("a kind in capitals", "A:1:0:0"),
    ("empty", ""),
    ("a colon", ":"),
    ("huge", "x" * 10_000),
]


@pytest.mark.parametrize(("value", "expected"), VALID, ids=[v for v, _ in VALID])
def test_what_the_writer_makes_is_read_back_as_the_same_button(value: str, expected: buttons.ButtonPayload) -> None:
    assert buttons.parse(value) == expected
    assert expected.value == value


@pytest.mark.parametrize(("case", "value"), INVALID, ids=[case for case, _ in INVALID])
def test_anything_else_is_refused_with_a_reason(case: str, value: str) -> None:
    with pytest.raises(InvalidButton) as refused:
        buttons.parse(value)
    assert str(refused.value), case


@pytest.mark.parametrize(
    "make",
    [
        lambda: AnswerButton(0, 0, 0),
        lambda: AnswerButton(MAX_INT + 1, 0, 0),
        lambda: AnswerButton(1, -1, 0),
        lambda: AnswerButton(1, 0, MAX_INT + 1),
        lambda: AnswerButton(True, 0, 0),
        lambda: FlowButton("Value Tips"),
        lambda: FlowButton("a" * 61),
        lambda: WordButton("stop"),  # type: ignore[arg-type]
    ],
)
def test_the_writer_refuses_to_make_a_payload_the_reader_would_refuse(make: object) -> None:
    with pytest.raises(InvalidButton):
        make()  # type: ignore[operator]


def test_the_longest_payloads_fit_telegram_s_callback_data() -> None:
    longest = [AnswerButton(MAX_INT, MAX_INT, MAX_INT).value, AnswerButton(MAX_INT, MAX_INT, None).value,
               FlowButton("a" * 60).value, *(WordButton(word).value for word in buttons.GLOBAL_WORDS)]  # fmt: skip
    assert max(len(value.encode("utf-8")) for value in longest) <= buttons.CALLBACK_LIMIT == 64


def test_flow_ids_in_say_buttons_and_campaign_buttons_are_refused_where_they_are_written_when_not_a_flow_id() -> None:
    # The flow file or config.yaml is refused with a message, instead of a button that could not be sent.
    for bad in ("a" * 61, "Value Tips", "tips!"):
        with pytest.raises(ValidationError):
            ButtonSpec(label="Tips", flow=bad)
        with pytest.raises(ValidationError):
            CampaignButton(label="Tips", flow=bad)
    assert ButtonSpec(label="Tips", flow="a" * 60).flow == CampaignButton(label="Tips", flow="a" * 60).flow


@given(st.text(max_size=80) | st.from_regex(r"[afg]:[0-9:a-z\-_]{0,30}", fullmatch=True))
def test_any_text_is_a_button_or_refused_never_another_error(value: str) -> None:
    try:
        pressed = buttons.parse(value)
    except InvalidButton:
        return
    assert pressed.value == value  # accepted only what the writer would have written
