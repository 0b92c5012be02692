"""The shape slack-bolt's listener matching (and our listeners) take for granted, checked before a request reaches it.

Bolt indexes payloads without looking (`body["actions"][0]` for a block action, `body["event"]["type"]` for an
event, `body["view"]["callback_id"]` for a view): a signed request shaped otherwise raised inside bolt, which
answered 500 with a traceback, and Slack retries a 500. Slack never sends these shapes; refusing them with a
400 and one log line keeps the answer clear and the log readable.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# Where bolt reads ids (the user, team, enterprise, channel), in the body and in these parts of it.
_ID_FIELDS = ("user", "team", "enterprise", "channel")
_PARTS = ("event", "message", "previous_message", "view")
_EVENT_PARTS = ("message", "previous_message", "item", "assistant_thread")


def problem(body: dict[str, Any]) -> str | None:
    """What is wrong with a parsed Slack request, or None when bolt can match it safely."""
    for part in _PARTS:
        if part in body and not isinstance(body[part], dict):
            return f"`{part}` must be an object"
    auths = body.get("authorizations")
    if auths is not None and not (isinstance(auths, list) and all(isinstance(a, dict) for a in auths)):
        return "`authorizations` must be a list of objects"
    checked = [("", body), *((f"{part}.", body[part]) for part in _PARTS if part in body)]
    if auths:
        checked.append(("authorizations[0].", auths[0]))
    event = body.get("event")
    if event is not None:  # bolt looks for ids in these too when the event itself has none
        checked += [(f"event.{sub}.", event[sub]) for sub in _EVENT_PARTS if isinstance(event.get(sub), dict)]
    for where, obj in checked:
        for field in _ID_FIELDS:
            if obj.get(field) is not None and not isinstance(obj[field], str | dict):
                return f"`{where}{field}` must be a string or an object"
    if event is not None:
        if not isinstance(event.get("type", ""), str):
            return "`event.type` must be a string"
        for part in ("message", "previous_message"):
            if event.get(part) is not None and not isinstance(event[part], dict):
                return f"`event.{part}` must be an object"
    if "command" in body:  # a slash command: our listener reads who asked, what, and where to answer
        for field in ("user_id", "response_url"):
            if not isinstance(body.get(field), str) or not body[field]:
                return f"a slash command needs `{field}`"
        if not isinstance(body.get("text", ""), str):
            return "`text` must be a string"
        url = urlsplit(body["response_url"])
        if url.scheme not in ("http", "https") or not url.hostname:
            return "`response_url` must be an http(s) URL"
    if body.get("type") == "block_actions" and "actions" in body:
        actions = body["actions"]
        if not isinstance(actions, list) or not actions or not all(_is_action(a) for a in actions):
            return "`actions` must be a non-empty list of objects with an `action_id`"
    if body.get("type") == "interactive_message" and "callback_id" in body:  # bolt takes `actions[0]`
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return "`actions` must be a non-empty list of objects"
    view = body.get("view")
    if body.get("type") in ("view_submission", "view_closed") and view is not None and "callback_id" in view:
        if not isinstance(view.get("type"), str):  # bolt reads `view.type` to tell workflow steps apart
            return "`view.type` must be a string"
    return None


def _is_action(action: Any) -> bool:
    return isinstance(action, dict) and isinstance(action.get("action_id"), str)
