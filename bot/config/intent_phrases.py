"""The default example phrasings of what has no flow of its own: asking for a person or for the menu (global
words), and small talk, which must never start a flow. config.yaml `intents.phrases` / `intents.small_talk`
replace them."""

from __future__ import annotations

HUMAN = (
    "can I speak to a real person", "I want to talk to a human", "let me talk to someone", "operator please",
    "connect me to an agent", "is there a human there", "can someone from your team call me",
    "I need to speak with customer service", "get me a real person", "put me through to support",
    "I'd rather talk to a person than a bot", "are you a bot? I want a person", "live chat with an agent",
    "can I talk to your manager", "transfer me to a representative", "I need a human being",
    "someone please help me, a real human", "talk to support staff", "speak to somebody",
    "can a person contact me", "call me back please", "I want to speak to someone in charge",
)  # fmt: skip

MENU = (
    "what can you do", "what can I do here", "show me the options", "I need help", "can you help me",
    "help me please", "what are my options", "show me the menu", "what do you do", "how does this work",
    "what can you help me with", "I'm lost", "what are the commands", "main menu please", "list the options",
    "start over", "go back to the menu", "what services do you offer", "how do I use this bot",
    "what is this bot for", "what does this bot do",
)  # fmt: skip

# "none": greetings, thanks, acknowledgements, and saying what one does not want. A message closest to these
# starts nothing; the bot answers in a word or shows the menu.
SMALL_TALK = (
    "hi", "hello", "hey", "hey there", "good morning", "good afternoon", "good evening", "hiya", "yo", "howdy",
    "hi, how are you", "how are you", "how are you doing", "how's it going", "what's up", "sup",
    "thanks", "thank you", "thank you so much",
    "thanks a lot", "cheers", "many thanks", "thx", "ty", "ok", "okay", "k", "cool", "great", "nice", "awesome",
    "perfect", "got it", "sounds good", "alright", "fine", "yes", "no", "yep", "nope", "sure", "lol", "haha",
    "bye", "goodbye", "see you", "good night", "have a nice day", "I love it", "love it", "you're the best",
    "all good", "it's fine", "not sure", "never mind, all good", "this is not a complaint",
    "I'm not complaining", "I don't want to cancel", "I'm not cancelling anything", "no need for a person",
    "I don't need help", "just checking", "just saying hello", "no problem", "no worries", "no thanks", "test",
    "thanks for your help", "thank you for helping",
    "are you there", "who are you", "are you a robot", "nice to meet you", "good job", "well done",
)  # fmt: skip

# Questions about the business that no flow answers. Closest to these, a message starts nothing either (and is
# recorded as unmatched, so an admin sees what customers ask): they teach the matcher that "delivery" or "pay"
# alone is a topic, not a complaint.
OTHER_QUESTIONS = (
    "how much does delivery cost", "how long does shipping take", "do you deliver abroad",
    "what are your opening hours", "which payment methods do you accept", "can I pay by card",
    "what's the price of the premium plan", "do you have gift cards", "is this product in stock",
    "are you hiring", "where is your shop",
    # How to do something in the app: a question, not a fault ("where is my parcel" is a complaint; "where is
    # the settings page" is not).
    "where do I find the settings", "where is the download button", "how do I change my password",
    "how do I update my address", "where can I see my invoices", "how do I add a second card",
    "is there a dark mode", "can I use the app on my tablet",
)  # fmt: skip
