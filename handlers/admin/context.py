"""What every console page module gets: the core, the renderer, and `page(role, handler)` for a guarded route."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.routing import Route

from bot.admin.accounts import Role
from bot.core import Core
from handlers.admin.render import Renderer
from handlers.admin.security import Page, guarded


@dataclass
class AdminContext:
    core: Core
    render: Renderer

    def route(self, path: str, role: Role, page: Page, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(path, guarded(self.core.admin_accounts, role, page, self.render.forbidden), methods=list(methods))
