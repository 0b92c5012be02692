"""The web chat's abuse limits: messages per visitor and per client address, new visitors per address, polls.

Past a limit the answer is 429 with Retry-After; the page waits that long and sends the same message again.
Counters are in this process's memory (handlers.ratelimit), so several instances each count on their own.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.config import RateLimit, WebchatRateLimits
from handlers.ratelimit import Clock, RateLimiter, RecentKeys, RefusalLog

log = logging.getLogger("engagebot.webchat")

# Loopback, private and link-local ranges (RFC 1918, RFC 4193): a proxy's or your own network's addresses. Not
# ipaddress's is_private, which also counts the documentation ranges (203.0.113.0/24) that tests use as clients.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10",
))  # fmt: skip
IPV6_PREFIX = 64  # one IPv6 customer line gets a /64 (or more): a per-address limit on one address of it holds nobody

IsKnownVisitor = Callable[[str], Awaitable[bool]]
VISITOR_KEYED = ("visitor", "poll-visitor")  # the limits counted per visitor id (the others: per address)


@dataclass(frozen=True)
class Client:
    """Who is asking, as the limits see it: the key of their address (an IPv6 client's /64), and whether they skip
    the per-address limits."""

    key: str
    exempt: bool


def client_key(host: str | None) -> str:
    """The address a per-address limit counts: IPv4 as it is, IPv6 as its /64, anything else (no client, a name
    from a proxy header) as given."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def too_many(retry_after: float, error: str) -> JSONResponse:
    """429 with Retry-After in whole seconds (at least 1), in the header and the JSON body."""
    seconds = max(1, math.ceil(retry_after))
    return JSONResponse(
        {"error": error, "retry_after": seconds}, status_code=429, headers={"Retry-After": str(seconds)}
    )


class WebChatLimits:
    """Decides whether a web chat request goes ahead; each check returns None, or the 429 to answer."""

    def __init__(self, settings: WebchatRateLimits, is_known_visitor: IsKnownVisitor, clock: Clock | None = None):
        self.settings = settings
        self.enabled = settings.enabled
        self._is_known_visitor = is_known_visitor
        self._clock = clock or time.monotonic
        self._exempt = (PRIVATE_NETWORKS if settings.exempt_private_addresses else ()) + tuple(
            ipaddress.ip_network(n, strict=False) for n in settings.exempt_networks
        )
        self.visitor_messages = self._limiter(settings.visitor_messages)
        self.address_messages = self._limiter(settings.address_messages)
        self.new_visitors = self._limiter(settings.new_visitors)
        self.visitor_polls = self._limiter(settings.visitor_polls)
        self.address_polls = self._limiter(settings.address_polls)
        self._known = RecentKeys(settings.max_tracked_keys)
        self._refusals = RefusalLog(log, max_keys=settings.max_tracked_keys, clock=self._clock)
        self._warned_private = False

    def client(self, request: Request) -> Client:
        host = request.client.host if request.client else None
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host or "")
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        exempt = address is not None and any(address in network for network in self._exempt)
        if (
            self.enabled
            and not self._warned_private
            and address is not None
            and any(address in n for n in PRIVATE_NETWORKS)
        ):
            self._warn_private(request, str(address), exempt)
        return Client(client_key(host), exempt)

    # ---- the checks, in the order a request meets them ---------------------------------------------------------

    def message_from(self, client: Client) -> Response | None:
        """Before the body is read: messages from this address."""
        if not self.enabled or client.exempt or self.address_messages is None:
            return None
        return self._check(self.address_messages, client.key, "address", "too many messages from your network")

    async def message_by(self, client: Client, visitor: str) -> Response | None:
        """Once the visitor is known: a new visitor from this address, then messages from this visitor."""
        if not self.enabled:
            return None
        if self.new_visitors is not None and not client.exempt and visitor not in self._known:
            # Not remembered (new, or forgotten since: a restart, another instance) and the database has no
            # conversation with them either: a new visitor. One cheap read per visitor per instance.
            if not await self._is_known_visitor(visitor):
                refused = self._check(self.new_visitors, client.key, "new-visitor",
                                      "too many new conversations from your network")  # fmt: skip
                if refused is not None:
                    return refused
        if self.new_visitors is not None:
            self._known.add(visitor)
        if self.visitor_messages is None:
            return None
        return self._check(self.visitor_messages, visitor, "visitor", "you are sending messages too quickly")

    def poll_from(self, client: Client) -> Response | None:
        """A poll for new messages from this address."""
        if not self.enabled or client.exempt or self.address_polls is None:
            return None
        return self._check(self.address_polls, client.key, "poll-address", "too many requests from your network")

    def poll_by(self, visitor: str) -> Response | None:
        """A poll for new messages by this visitor."""
        if not self.enabled or self.visitor_polls is None:
            return None
        return self._check(self.visitor_polls, visitor, "poll-visitor", "too many requests")

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _limiter(self, limit: RateLimit | None) -> RateLimiter | None:
        if limit is None:
            return None
        return RateLimiter(limit.rate, limit.per_seconds, limit.burst, max_keys=self.settings.max_tracked_keys,
                           clock=self._clock)  # fmt: skip

    def _check(self, limiter: RateLimiter, key: str, kind: str, error: str) -> Response | None:
        wait = limiter.check((kind, key))
        if wait is None:
            return None
        # A visitor id is as good as a password to its transcript: only its first characters go to the log.
        shown = f"{key[:6]}…" if kind in VISITOR_KEYED else key
        self._refusals.refused((kind, key), wait, "web chat: %s limit reached by %s (%s); refusing with 429 for %ds",
                               kind, shown, error, max(1, math.ceil(wait)))  # fmt: skip
        return too_many(wait, error)

    def _warn_private(self, request: Request, address: str, exempt: bool) -> None:
        """Once per process: behind a proxy that hides the client's address, every customer is one address."""
        self._warned_private = True
        if request.headers.get("x-forwarded-for"):
            hint = ("it sent X-Forwarded-For, which is ignored unless the proxy's address is in FORWARDED_ALLOW_IPS "
                    "(default 127.0.0.1,::1)")  # fmt: skip
        else:
            hint = "if a reverse proxy forwards these requests, make it send X-Forwarded-For"
        if exempt:
            log.info("web chat: requests from %s, a private address, skip the per-address limits; %s", address, hint)
        else:
            log.info("web chat: requests from %s, a private address, share its per-address limits; %s, or list the "
                     "address under webchat.rate_limits.exempt_networks", address, hint)  # fmt: skip
