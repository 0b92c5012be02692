"""Who is asking: the session cookie, the CSRF token every form carries, the role a page needs, and the rate limit
on failed sign-ins. Pages are wrapped by `guarded`, so none can forget a check."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.admin.accounts import AdminAccounts, Role, SignedIn
from handlers.ratelimit import RateLimiter, RefusalLog

log = logging.getLogger("engagebot.admin")
SESSION_COOKIE = "engagebot_admin"
LOGIN_COOKIE = "engagebot_admin_login"  # the login form's CSRF token (double submit: cookie and hidden field)
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"  # for the pages' fetch() calls (live check, preview)
COOKIE_PATH = "/admin"
SAFE_METHODS = ("GET", "HEAD")

Page = Callable[[Request, SignedIn], Awaitable[Response]]


def is_https(request: Request) -> bool:
    """HTTPS as the browser sees it: uvicorn applies X-Forwarded-Proto from trusted proxies (--forwarded-allow-ips,
    127.0.0.1 by default) to the scheme, so a TLS-terminating proxy in front makes this true."""
    return request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None = None, samesite: str = "lax"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite=samesite,  # type: ignore[arg-type]
        secure=is_https(request),
    )


def same(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def login_token(request: Request) -> str:
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


class SignInLimits:
    """Failed sign-ins per name and per address (a few a minute each); a success clears the name's count."""

    def __init__(self) -> None:
        self.by_name = RateLimiter(5, 60, 5)
        self.by_client = RateLimiter(20, 60, 20)
        self.refusals = RefusalLog(log)

    def wait(self, name: str, client: str) -> float | None:
        waits = [w for w in (self.by_name.retry_after(name.lower()), self.by_client.retry_after(client)) if w]
        return max(waits) if waits else None

    def failed(self, name: str, client: str) -> None:
        self.by_name.check(name.lower())
        self.by_client.check(client)
        self.refusals.refused(("login", client), 0, "admin: failed sign-in from %s", client)

    def succeeded(self, name: str) -> None:
        self.by_name.reset(name.lower())


async def csrf_of(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def guarded(
    accounts: AdminAccounts, role: Role, page: Page, forbidden: Callable[[Request, SignedIn | None, str], Response]
) -> Callable[[Request], Awaitable[Response]]:
    """`page` for a signed-in account with at least `role`; every POST must carry the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        who = await accounts.signed_in(token) if token else None
        if request.method not in SAFE_METHODS:
            if who is None or not same(await csrf_of(request), who.csrf_token):
                return forbidden(
                    request,
                    who,
                    "This form has expired or did not come from this console "
                    "(no valid CSRF token). Reload the page and try again.",
                )
        elif who is None:
            return RedirectResponse(f"{COOKIE_PATH}/login?next={request.url.path}", status_code=303)
        if not who.can(role):
            return forbidden(request, who, f"This needs the {role.name} role; you are signed in as a {who.role.name}.")
        return await page(request, who)

    return endpoint
