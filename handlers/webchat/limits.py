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
# One party spreading over many /64s (a /48 holds 65,536 of them, each a fresh bucket, and forgotten ones come back
# full) is held by a second bucket per /56, WIDE_FACTOR times the limit, in a limiter of its own so that churning
# /64s cannot push the /56s out of memory. Not simply /56 for everything: ISPs that delegate /60s or /64s put up to
# 256 customers in one /56, and each keeps the allowance of its own line; one site's few networks fit in the /56.
IPV6_WIDE_PREFIX = 56
WIDE_FACTOR = 4

IsKnownVisitor = Callable[[str], Awaitable[bool]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
VISITOR_KEYED = ("visitor", "poll-visitor")  # the limits counted per visitor id (the others: per address)


@dataclass(frozen=True)
class Client:
    """Who is asking, as the limits see it: the key of their address (an IPv6 client's /64), for IPv6 also its
    /56, and whether they skip the per-address limits."""

    key: str
    exempt: bool
    wide_key: str | None = None


def client_keys(host: str | None) -> tuple[str, str | None]:
    """The addresses a per-address limit counts: IPv4 as it is; IPv6 as its /64 and its /56; anything else (no
    client, a name from a proxy header) as given."""
    if not host:
        return "unknown", None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100], None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped), None
        return _network(address, IPV6_PREFIX), _network(address, IPV6_WIDE_PREFIX)
    return str(address), None


def _network(address: ipaddress.IPv6Address, prefix: int) -> str:
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class AddressLimit:
    """One per-address limit: a bucket per client key and, for IPv6, a looser one per /56 (see WIDE_FACTOR)."""

    def __init__(self, limit: RateLimit, max_keys: int, clock: Clock):
        self.own = RateLimiter(limit.rate, limit.per_seconds, limit.burst, max_keys=max_keys, clock=clock)
        self.wide = RateLimiter(limit.rate * WIDE_FACTOR, limit.per_seconds, limit.burst * WIDE_FACTOR,
                                max_keys=max_keys, clock=clock)  # fmt: skip

    def check(self, client: Client) -> tuple[str, float] | None:
        """None when both buckets allow a request (taken from both), else the key that refused and the wait;
        a refused request takes from neither."""
        wait = self.own.retry_after(client.key)
        if wait is not None:
            return client.key, wait
        if client.wide_key is not None:
            wait = self.wide.check(client.wide_key)
            if wait is not None:
                return client.wide_key, wait
        self.own.check(client.key)  # allowed: retry_after just said so, and nothing ran in between
        return None


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
        self.address_messages = self._address_limit(settings.address_messages)
        self.new_visitors = self._address_limit(settings.new_visitors)
        self.visitor_polls = self._limiter(settings.visitor_polls)
        self.address_polls = self._address_limit(settings.address_polls)
        self._known = RecentKeys(settings.max_tracked_keys)
        self._refusals = RefusalLog(log, max_keys=settings.max_tracked_keys, clock=self._clock)
        self._warned_private = False

    def client(self, request: Request) -> Client:
        host = request.client.host if request.client else None
        try:
            address: IPAddress | None = ipaddress.ip_address(host or "")
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
            self._warn_private(request, address, exempt)
        key, wide_key = client_keys(host)
        return Client(key, exempt, wide_key)

    # ---- the checks, in the order a request meets them ---------------------------------------------------------

    def message_from(self, client: Client) -> Response | None:
        """Before the body is read: messages from this address."""
        if not self.enabled or client.exempt or self.address_messages is None:
            return None
        return self._check_address(self.address_messages, client, "address", "too many messages from your network")

    async def message_by(self, client: Client, visitor: str) -> Response | None:
        """Once the visitor is known: a new visitor from this address, then messages from this visitor."""
        if not self.enabled:
            return None
        if self.new_visitors is not None and not client.exempt and visitor not in self._known:
            # Not remembered (new, or forgotten since: a restart, another instance) and the database has no
            # conversation with them either: a new visitor. One cheap read per visitor per instance.
            if not await self._is_known_visitor(visitor):
                refused = self._check_address(self.new_visitors, client, "new-visitor",
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
        return self._check_address(self.address_polls, client, "poll-address", "too many requests from your network")

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

    def _address_limit(self, limit: RateLimit | None) -> AddressLimit | None:
        return None if limit is None else AddressLimit(limit, self.settings.max_tracked_keys, self._clock)

    def _check(self, limiter: RateLimiter, key: str, kind: str, error: str) -> Response | None:
        wait = limiter.check((kind, key))
        return None if wait is None else self._refuse(key, wait, kind, error)

    def _check_address(self, limit: AddressLimit, client: Client, kind: str, error: str) -> Response | None:
        refused = limit.check(client)
        return None if refused is None else self._refuse(*refused, kind, error)

    def _refuse(self, key: str, wait: float, kind: str, error: str) -> Response:
        # A visitor id is as good as a password to its transcript: only its first characters go to the log.
        shown = f"{key[:6]}…" if kind in VISITOR_KEYED else key
        self._refusals.refused((kind, key), wait, "web chat: %s limit reached by %s (%s); refusing with 429 for %ds",
                               kind, shown, error, max(1, math.ceil(wait)))  # fmt: skip
        return too_many(wait, error)

    def _warn_private(self, request: Request, address: IPAddress, exempt: bool) -> None:
        """Once per process: behind a proxy that hides the client's address, every customer is one address (exempt:
        every customer skips the per-address limits; limited: they all share one address's)."""
        self._warned_private = True
        kind = "loopback" if address.is_loopback else "private"
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
        if str(address) in forwarded:
            hint = "X-Forwarded-For named it: if that is a proxy too, make it forward the client's address"
        elif forwarded:
            hint = ("they came with X-Forwarded-For, which is ignored: add the proxy's address to FORWARDED_ALLOW_IPS "
                    "(default 127.0.0.1,::1)")  # fmt: skip
        else:
            hint = "if a reverse proxy forwards them, make it send X-Forwarded-For"
        if exempt:
            log.info("web chat: requests from %s, a %s address, skip the per-address limits (listed in "
                     "webchat.rate_limits.exempt_networks or exempt_private_addresses); %s, or every customer "
                     "behind it skips them too", address, kind, hint)  # fmt: skip
        else:
            log.info("web chat: requests from %s, a %s address, are limited as one address; %s, or every customer "
                     "behind it shares that address's limits (or list the address under "
                     "webchat.rate_limits.exempt_networks)", address, kind, hint)  # fmt: skip
