"""The console's mount: off until an account exists, the sign-in page, the audit log and the accounts page; the
flow, campaign, incident, playbook, staff and report pages come from their own modules."""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.admin import audit
from bot.admin.accounts import AccountError, Role, SignedIn
from bot.core import Core
from handlers.admin import (
    campaign_pages,
    flow_pages,
    incident_pages,
    playbook_pages,
    report_pages,
    reward_pages,
    staff_pages,
)
from handlers.admin.context import AdminContext
from handlers.admin.render import Renderer
from handlers.admin.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SignInLimits,
    login_token,
    same,
    set_cookie,
)

OFF_MESSAGE = (
    "The admin console is off until an account exists. On the server, run "
    "`engagebot admin add NAME --role admin` and sign in here."
)


def _next_page(value: str | None) -> str:
    """Back to where the sign-in was asked for; only a console path (no open redirect to another site)."""
    if value and value.startswith("/admin/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin/flows"


class ConsoleSwitch:
    """404 with a clear page for every /admin request until the first account exists; checked per request until
    then (an account added by the CLI turns the console on without a restart), never again after."""

    def __init__(self, app: ASGIApp, ctx: AdminContext):
        self.app = app
        self.ctx = ctx
        self.on = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.on:
            self.on = await self.ctx.core.admin_accounts.any_exist()
            if not self.on:
                request = Request(scope, receive)
                response = self.ctx.render.page(
                    request, None, "message.html", status=404, title="Console off", message=OFF_MESSAGE
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def admin_mount(core: Core) -> Mount:
    ctx = AdminContext(core, Renderer(core.settings))
    accounts, render = core.admin_accounts, ctx.render
    limits = SignInLimits()

    async def home(request: Request) -> Response:
        return RedirectResponse("/admin/flows", status_code=303)

    async def login_page(request: Request) -> Response:
        return _login(request, None, 200)

    def _login(request: Request, error: str | None, status: int, name: str = "") -> Response:
        token = login_token(request)
        response = render.page(
            request,
            None,
            "login.html",
            status=status,
            title="Sign in",
            csrf=token,
            error=error,
            name=name,
            next=_next_page(request.query_params.get("next")),
        )
        set_cookie(response, request, LOGIN_COOKIE, token, samesite="strict")
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        if not same(str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_COOKIE, "")):
            return render.forbidden(request, None, "The sign-in form expired (no valid CSRF token). Reload the page.")
        name, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
        client = request.client.host if request.client else "-"
        wait = limits.wait(name, client)
        if wait is not None:
            return _login(request, f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.", 429, name)
        signed = await accounts.sign_in(name, password) if name and password else None
        if signed is None:
            limits.failed(name, client)
            return _login(request, "Wrong name or password.", 401, name)
        limits.succeeded(name)
        token, _who = signed
        response = RedirectResponse(_next_page(str(form.get("next", ""))), status_code=303)
        set_cookie(response, request, SESSION_COOKIE, token)
        response.delete_cookie(LOGIN_COOKIE, path="/admin")
        return response

    async def logout(request: Request, who: SignedIn) -> Response:
        await accounts.sign_out(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/admin")
        return response

    async def audit_page(request: Request, who: SignedIn) -> Response:
        lines = await audit.recent(core.db, 300)
        if request.query_params.get("format") == "json":
            return JSONResponse({"entries": [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                                              "target": e.target, "detail": e.detail} for e in lines]})  # fmt: skip
        return render.page(request, who, "audit.html", section="audit", title="Audit log", lines=lines)

    async def accounts_page(request: Request, who: SignedIn) -> Response:
        return render.page(
            request,
            who,
            "accounts.html",
            section="accounts",
            title="Accounts",
            accounts=await accounts.list(),
            roles=[r.name for r in Role],
        )

    async def account_add(request: Request, who: SignedIn) -> Response:
        form = await request.form()
        try:
            await accounts.add(
                str(form.get("name", "")).strip(),
                str(form.get("role", "")),
                str(form.get("password", "")),
                actor=who.name,
            )
        except AccountError as exc:
            return render.page(
                request,
                who,
                "accounts.html",
                status=400,
                section="accounts",
                title="Accounts",
                accounts=await accounts.list(),
                roles=[r.name for r in Role],
                error=str(exc),
            )
        return render.done(request, "/admin/accounts", f"Account {form.get('name')} added.")

    async def account_remove(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        if name == who.name:
            return render.done(request, "/admin/accounts", "You cannot remove your own account.")
        try:
            await accounts.remove(name, actor=who.name)
        except AccountError as exc:
            return render.done(request, "/admin/accounts", str(exc))
        return render.done(request, "/admin/accounts", f"Account {name} removed.")

    static = StaticFiles(directory=str(files("handlers.admin").joinpath("static")))
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        ctx.route("/logout", Role.viewer, logout, ("POST",)),
        ctx.route("/audit", Role.viewer, audit_page),
        ctx.route("/accounts", Role.admin, accounts_page),
        ctx.route("/accounts", Role.admin, account_add, ("POST",)),
        ctx.route("/accounts/{name}/remove", Role.admin, account_remove, ("POST",)),
        Mount("/static", static, name="admin-static"),
        *flow_pages.routes(ctx),
        *campaign_pages.routes(ctx),
        *playbook_pages.routes(ctx),
        *incident_pages.routes(ctx),
        *reward_pages.routes(ctx),
        *staff_pages.routes(ctx),
        *report_pages.routes(ctx),
    ]
    return Mount("/admin", app=ConsoleSwitch(Router(routes=routes), ctx))
