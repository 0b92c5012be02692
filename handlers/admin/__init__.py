"""The admin console at /admin: server-rendered pages over the core's admin services (bot/admin/)."""

from handlers.admin.app import admin_mount

__all__ = ["admin_mount"]
