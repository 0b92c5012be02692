"""Server-rendered pages: Jinja2 with autoescape, one base layout, the navigation, and one-line notices after a
change (a short-lived cookie read by the next page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.admin.accounts import Role, SignedIn
from bot.config import Settings
from handlers.admin.security import set_cookie

FLASH_COOKIE = "engagebot_admin_flash"
# The console's sections, in the navigation's order: (key, label, path, role needed to see it). A section added later
# is one more entry here and its routes.
SECTIONS: list[tuple[str, str, str, Role]] = [
    ("flows", "Flows", "/admin/flows", Role.viewer),
    ("campaigns", "Campaigns", "/admin/campaigns", Role.viewer),
    ("incidents", "Incidents", "/admin/incidents", Role.viewer),
    ("playbook", "Playbook", "/admin/playbook", Role.viewer),
    ("rewards", "Rewards", "/admin/rewards", Role.viewer),
    ("staff", "Staff & routing", "/admin/staff", Role.viewer),
    ("reports", "Reports", "/admin/reports", Role.viewer),
    ("audit", "Audit log", "/admin/audit", Role.viewer),
    ("accounts", "Accounts", "/admin/accounts", Role.admin),
]


class Renderer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = Environment(
            loader=PackageLoader("handlers.admin", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = self.local_time
        self.env.globals["business"] = settings.business.name

    def local_time(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        return moment.astimezone(self.settings.business.zone).strftime("%Y-%m-%d %H:%M")

    def page(
        self, request: Request, who: SignedIn | None, template: str, *, status: int = 200, section: str = "", **ctx: Any
    ) -> Response:
        flash = request.cookies.get(FLASH_COOKIE)
        nav = [(key, label, path) for key, label, path, role in SECTIONS if who is not None and who.can(role)]
        html = self.env.get_template(template).render(
            who=who,
            nav=nav,
            section=section,
            flash=unquote(flash) if flash else None,
            editor=bool(who and who.can(Role.editor)),
            **ctx,
        )
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/admin")
        return response

    def done(self, request: Request, to: str, message: str) -> Response:
        """After a change: back to a page (303, so a reload does not post again), which shows `message` once."""
        response = RedirectResponse(to, status_code=303)
        set_cookie(response, request, FLASH_COOKIE, quote(message), max_age=60)
        return response

    def forbidden(self, request: Request, who: SignedIn | None, message: str) -> Response:
        return self.page(request, who, "message.html", status=403, title="Not allowed", message=message)
