"""The built-in web chat: a page at /chat and its JSON API."""

from handlers.webchat.routes import WebChatChannel, webchat_routes

__all__ = ["WebChatChannel", "webchat_routes"]
