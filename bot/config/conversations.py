"""The conversation sections: where flows live, the words that work anywhere, retries and resuming, intent
thresholds, and everything the bot says on its own."""

from __future__ import annotations

from pydantic import Field, field_validator

from bot.config import intent_phrases
from bot.config.section import Section

BUILTIN_CORPUS = "builtin"  # in intents.corpus: the labelled customer messages shipped with the package


class FlowSettings(Section):
    dir: str = "flows"
    hot_reload: bool = True


class GlobalWords(Section):
    """Words that work anywhere in a conversation, matched fuzzily on the whole message."""

    menu: tuple[str, ...] = ("help", "menu", "/help", "/menu", "options", "main menu")
    cancel: tuple[str, ...] = ("cancel", "/cancel", "never mind", "nevermind", "quit", "stop this")
    human: tuple[str, ...] = (
        "human", "agent", "operator", "person", "talk to a human", "talk to a person",
        "speak to a human", "real person", "representative", "/human",
    )  # fmt: skip
    stop: tuple[str, ...] = ("stop", "/stop", "unsubscribe", "opt out", "opt-out", "stop messages")
    resubscribe: tuple[str, ...] = ("subscribe", "/subscribe", "resubscribe", "start messages")


class ConversationSettings(Section):
    max_retries: int = Field(2, ge=0, le=10)
    max_text_length: int = Field(4096, ge=16, le=65536)
    # A flow interrupted (e.g. by a complaint) is resumed afterwards if it is younger than this.
    resume_within_hours: float = Field(24, gt=0)
    global_words: GlobalWords = GlobalWords()
    # The flow the "stop" words start (it confirms, then unsubscribes); empty: unsubscribe at once.
    stop_flow: str = "opt_out"
    # The flow started by "talk to a human"; empty: open a hand-off ticket directly.
    human_flow: str = ""


class IntentSettings(Section):
    """What free text starts (docs/understanding.md). Scores are 0-100 from bot/conversations/classifier.py."""

    # The least score for a message to start a flow or do what a global word does.
    threshold: float = Field(40, ge=0, le=100)
    # Higher bar for what may interrupt a question in progress (a complaint, a person, stop).
    interrupt_threshold: float = Field(50, ge=0, le=100)
    # A longer message that is also a valid answer to the open question ("no, I still can't find it") interrupts
    # only from this score; below it, the answer wins.
    interrupt_answer_threshold: float = Field(80, ge=0, le=100)
    # Two intents closer than this (the best above the threshold): ask the customer which they mean.
    ask_margin: float = Field(20, ge=0, le=100)
    # A typed answer to a choice question ("verry good" -> "Very good"), rapidfuzz WRatio.
    choice_threshold: float = Field(75, ge=0, le=100)
    # Example phrasings of the global words that have no flow (human, menu); flows carry their own.
    phrases: dict[str, tuple[str, ...]] = {"human": intent_phrases.HUMAN, "menu": intent_phrases.MENU}
    # Greetings, thanks, "ok": closest to these, a message starts nothing.
    small_talk: tuple[str, ...] = intent_phrases.SMALL_TALK
    # Questions no flow answers ("how much does delivery cost"): closest to these, a message starts nothing.
    other_questions: tuple[str, ...] = intent_phrases.OTHER_QUESTIONS
    # Labelled customer messages the classifier learns from besides the examples above and the flows' own
    # (TSV with the columns text and expected, as `intents test` reads): `builtin` is the corpus shipped with the
    # package; a path is relative to config.yaml. Labels name flows, global words or none.
    corpus: tuple[str, ...] = (BUILTIN_CORPUS,)

    @field_validator("phrases")
    @classmethod
    def _global_words_only(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(value) - set(GlobalWords.model_fields))
        if unknown:
            raise ValueError(f"not a global word: {', '.join(unknown)} (one of {', '.join(GlobalWords.model_fields)})")
        return value


class Texts(Section):
    """Everything the bot says on its own (outside flows). Jinja2 templates, sandboxed."""

    fallback: str = "Sorry, I didn't understand that. Here is what I can help with:"
    menu: str = "How can I help? Choose an option below or just type what you need."
    talk_to_human: str = "Talk to a person"
    handoff: str = (
        "I've passed this to our team (ticket {{ ticket.ref }}). "
        "A person will reply here within {{ ticket.respond_within }}."
    )
    handoff_existing: str = "I've added this to your ticket {{ ticket.ref }}. Our team will reply here."
    cancelled: str = "OK, I've stopped that."
    # Small talk ("hi", "thanks", "ok", an emoji) with nothing going on: a short friendly answer and the menu.
    small_talk: str = "Happy to help! Just type what you need, or choose below:"
    # Two intents were close: which one? `choices` are the flows' titles, e.g. "report a problem or stop messages".
    ask_which: str = "Just to be sure: do you want to {{ choices }}?"
    nothing_to_cancel: str = "There's nothing to cancel."
    too_long: str = "That message is too long ({{ length }} characters). Please keep it under {{ limit }}."
    empty: str = "I didn't catch anything there. Could you type your message?"
    unknown_command: str = "I don't know the command {{ command }}."
    unsupported_media: str = "Sorry, I can't read that kind of message here. Could you type it instead?"
    stale_button: str = "That question has already been answered."
    trouble: str = "I'm having trouble understanding. Would you like to talk to a person?"
    try_again: str = "Try again"
    skip: str = "Skip"
    resuming: str = "Now, back to where we were:"
    # Said when another flow starts over a question still waiting for its answer (it comes back afterwards).
    set_aside: str = "Let's leave my question for now."
    # A new customer whose first message asks for something (a complaint, a person, stop...) gets this one
    # sentence opening the answer's first message ("" for none); onboarding (the first_contact flow) comes later,
    # when they are not busy.
    first_words_welcome: str = "Hi {{ customer.first_name or 'there' }}, welcome to {{ business.name }}."
    # Before an unanswered proactive question is asked again (outreach.checkins).
    reminder: str = "Just a reminder:"
    # An answer to a question the bot had already moved on from (it is kept, nothing is re-run).
    late_answer: str = "Thanks for letting us know, I've noted that."
    unsubscribed: str = "You won't get any more messages from us unless you write to us. Type 'subscribe' to undo."
    resubscribed: str = "Welcome back! You'll get our updates again."
    invalid_answer: dict[str, str] = {
        "text": "Please type your answer.",
        "choice": "Please choose one of the options.",
        "yes_no": "Please answer yes or no.",
        "rating": "Please give a rating from 1 to 5.",
        "nps": "Please pick a number from 0 (not at all likely) to 10 (extremely likely).",
        "number": "Please send a number.",
        "email": "That doesn't look like an email address. Could you check it?",
        "phone": "That doesn't look like a phone number. Please include the country code, e.g. +44 20 7946 0958.",
        "date": "I couldn't read that date. Try a format like 2026-03-14 or 14 March.",
        "media": "Please send a photo or file, or press Skip.",
    }
