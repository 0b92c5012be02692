"""Which thread replies stay internal: the note markers staff really type (formatted, quoted, bracketed, in any case),
the replies that only might be notes (held, the author asked), and the replies that go to the customer. Pure: the
classifier sees the reply as the customer would read it (handlers/slack/mrkdwn.to_plain first)."""

from __future__ import annotations

import pytest

from handlers.slack.mrkdwn import to_plain
from handlers.slack.notes import classify

NOTES = [
    ("note: courier called", "courier called"),
    ("NOTE:x", "x"),
    ("  Note : y", "y"),
    ("Note:no space", "no space"),
    ("note:", ""),
    ("notes: from the call", "from the call"),
    ("NOTES - depot has it", "depot has it"),
    ("*note:* courier called", "courier called"),
    ("*Note*: courier called", "courier called"),
    ("**Note**: courier called", "courier called"),
    ("_note:_ courier called", "courier called"),
    ("~note~: courier called", "courier called"),
    ("`note:` courier called", "courier called"),
    ("> note: courier called", "courier called"),
    (">note: courier called", "courier called"),
    ("  >  *Note*:  courier called", "courier called"),
    ("Note - courier called", "courier called"),
    ("note- courier called", "courier called"),
    ("note — courier called", "courier called"),
    ("note – courier called", "courier called"),
    ("[note] courier called", "courier called"),
    ("[NOTE]: courier called", "courier called"),
    ("(note) courier called", "courier called"),
    ("{internal} courier called", "courier called"),
    ("(internal) courier called", "courier called"),
    ("internal: courier called", "courier called"),
    ("Internal - courier called", "courier called"),
    ("internal only: courier called", "courier called"),
    ("Internal note: courier called", "courier called"),
    ("internal-note: courier called", "courier called"),
    ("**Private note**: courier called", "courier called"),
    ("private: courier called", "courier called"),
    ("staff only: courier called", "courier called"),
    ("Staff note - courier called", "courier called"),
    ("team note: courier called", "courier called"),
    ("note to self: call the depot", "call the depot"),
    ("Do not send: courier called", "courier called"),
    ("- note: courier called", "courier called"),
    ("• note: courier called", "courier called"),
    ("// internal: courier called", "courier called"),
    ("«note»: courier called", "courier called"),
    ('"note": courier called', "courier called"),
    ("NOTE\ncourier called", "courier called"),
    ("*Internal*\ncourier called\nand the depot", "courier called\nand the depot"),
    # Looks like a marker to a person: read after NFKC, without invisible format characters; the note as written.
    ("ｎｏｔｅ: courier called", "courier called"),
    ("ＮＯＴＥ：ｃｏｕｒｉｅｒ", "ｃｏｕｒｉｅｒ"),
    ("［ｉｎｔｅｒｎａｌ］ courier called", "courier called"),
    ("\u200bnote: courier called", "courier called"),
    ("n\u200bote: courier called", "courier called"),
    ("note\u200d: courier called", "courier called"),
    ("note:\u200b courier called", "courier called"),
    ("\u2060\ufeffInternal: courier called", "courier called"),
    ("\u202enote: courier called", "courier called"),
    ("\u00a0note: courier called", "courier called"),
    ("\u3000note: courier called", "courier called"),
    # Emoji in front, as typed or pasted, or as Slack sends them (shortcodes).
    ("📝 note: courier called", "courier called"),
    ("📝note: courier called", "courier called"),
    ("✍️ Note - courier called", "courier called"),
    ("🔒 internal: courier called", "courier called"),
    ("> 📝 *note:* courier called", "courier called"),
    (":memo: note: courier called", "courier called"),
    (":lock: :memo: [internal] courier called", "courier called"),
]

UNSURE = [
    "Note that your refund takes 3 days",
    "note the depot is closed",
    "notes from the call: depot has it",
    "Hi Joana, please note the parcel is late",
    "Internally we are still checking",
    "internal server error on our side, sorry",
    "Private sale starts Monday",
    "Privately, I think the courier lost it",
    "N.B. the store closes at 5",
    "nb: courier called",
    "confidential: the courier was fired",
    "don't send this, just checking",
    "not for the customer: depot has it",
    "@Rui Costa can you check the depot?",
    "> @Rui Costa can you check?",
    "Nothing to note here: it was delivered",  # "note" among the first words: asked, not guessed
    "ｎｏｔｅ that your refund takes 3 days",
    "\u200bNote that your refund takes 3 days",
    "📝 please note the depot is closed",
    "ℹ️ note: courier called",  # NFKC makes ℹ an "i": a word before the marker, so asked
    ":memo: memo for the team: depot has it",
]

REPLIES = [
    "Hi Joana, the courier says it is in the depot.",
    "Notebook arrived? Great!",
    "I noted it down, thank you.",
    "Our staff will call you tomorrow.",
    "The order is not here yet.",
    "Not sure yet, I'll check with the courier.",
    "It was delivered this morning, please make a note of the code.",  # "note" after the first words
    "We sent a new one & it arrives on Monday.",
    "📦 Your parcel left the depot this morning.",
    ":tada: It arrived, thank you for waiting!",
    "Ｙｏｕｒ ｏｒｄｅｒ ｉｓ ｏｎ ｉｔｓ ｗａｙ.",
]


@pytest.mark.parametrize(("text", "note"), NOTES)
def test_note_markers_keep_the_reply_internal(text: str, note: str) -> None:
    verdict = classify(text)
    assert (verdict.kind, verdict.text) == ("note", note)


@pytest.mark.parametrize("text", UNSURE)
def test_replies_that_might_be_notes_are_held_for_their_author(text: str) -> None:
    verdict = classify(text)
    assert (verdict.kind, verdict.text) == ("unsure", text.strip())


@pytest.mark.parametrize("text", REPLIES)
def test_ordinary_replies_go_to_the_customer(text: str) -> None:
    assert classify(text).kind == "reply"


@pytest.mark.parametrize(
    ("slack_text", "kind"),
    [("&gt; note: depot", "note"), ("*note:* &lt;b&gt;", "note"), ("<@U0RUI> can you check?", "unsure"),
     ("&gt; :memo: note: depot", "note"), ("\u200b&gt; note: depot", "note"),
     ("&gt; <@U0RUI> please look", "unsure"), ("Thanks &amp; sorry", "reply")],
)  # fmt: skip
def test_the_reply_is_read_as_slack_sends_it(slack_text: str, kind: str) -> None:
    """Slack sends a quote as `&gt;` and a mention as `<@U…>`: classified after they become `>` and a name."""
    assert classify(to_plain(slack_text, {"U0RUI": "Rui Costa"}.get)).kind == kind
