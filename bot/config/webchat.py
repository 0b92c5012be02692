"""The web chat section: its title, the sites that may frame it, and the rate limits on the public endpoint."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from bot.config.section import Section

PER_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimit(Section):
    """A token bucket: up to `burst` requests at once, refilled at `rate` per `per` (20 a minute, 5 at once)."""

    rate: float = Field(gt=0)
    per: Literal["second", "minute", "hour", "day"] = "minute"
    burst: int = Field(ge=1)

    @property
    def per_seconds(self) -> float:
        return PER_SECONDS[self.per]


class WebchatRateLimits(Section):
    """Limits on the public web chat (429 with Retry-After past them). Counted in each instance's memory: several
    instances each count on their own. A limit set to null (or false) is off."""

    enabled: bool = True
    # Messages per visitor id (one browser).
    visitor_messages: RateLimit | None = RateLimit(rate=20, per="minute", burst=10)
    # Messages per client address, all its visitors together (an IPv6 client counts as its /64, and its /56 as a
    # whole at 4 times each per-address limit, so one party cannot spread over many /64s).
    address_messages: RateLimit | None = RateLimit(rate=120, per="minute", burst=60)
    # Visitor ids new to the bot per client address: what stops one address from opening tickets or answering
    # surveys as hundreds of scripted visitors. Returning visitors never count.
    new_visitors: RateLimit | None = RateLimit(rate=10, per="hour", burst=5)
    # Polls for new messages (the page polls every 3 s while open) per visitor and per client address.
    visitor_polls: RateLimit | None = RateLimit(rate=60, per="minute", burst=30)
    address_polls: RateLimit | None = RateLimit(rate=1200, per="minute", burst=300)
    # Whether private addresses (10/8, 172.16/12, 192.168/16, fc00::/7, link-local; loopback too) skip the
    # per-address limits. Off: a script elsewhere on the bot's network is limited like anyone. Turn it on only behind
    # a reverse proxy that cannot forward the client's address (X-Forwarded-For, trusted from FORWARDED_ALLOW_IPS),
    # which would otherwise make every visitor one address.
    exempt_private_addresses: bool = False
    # Addresses or networks that skip the per-address limits (the per-visitor ones still hold). By default the bot's
    # own host: an operator's curl, a same-host proxy without X-Forwarded-For, a test harness would otherwise share
    # one address's 5 new visitors, and limiting loopback stops nobody (a local script can send X-Forwarded-For,
    # which uvicorn trusts from 127.0.0.1). A list you give replaces this one: keep both in it next to, e.g., an
    # office or in-store tablets behind one NAT; [] limits loopback like anyone.
    exempt_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # Keys (visitors, addresses) each limit remembers at most; the least recently seen is forgotten first.
    max_tracked_keys: int = Field(10_000, ge=100, le=10_000_000)

    @field_validator(
        "visitor_messages", "address_messages", "new_visitors", "visitor_polls", "address_polls", mode="before"
    )
    @classmethod
    def _off(cls, value: object) -> object:
        """`false` or `off` turns a limit off, like null (YAML 1.2 reads an unquoted off as a string)."""
        return None if value is False or value == "off" else value

    @field_validator("exempt_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an address or network (e.g. 203.0.113.0/24)") from None
        return value


# An origin a page may be framed by: scheme://host[:port], the host possibly starting with "*." (CSP source syntax).
FRAME_ORIGIN = r"^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$"


class WebchatSettings(Section):
    enabled: bool = True
    title: str = "Chat with us"
    rate_limits: WebchatRateLimits = WebchatRateLimits()
    # Origins of the sites that may show the chat in a frame (https://shop.example.com); empty: only this server.
    frame_ancestors: tuple[Annotated[str, Field(pattern=FRAME_ORIGIN, max_length=200)], ...] = ()
