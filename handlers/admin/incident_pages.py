"""The incident pages: the list with a form to open one, and one incident (who was affected and told, its notices,
the complaints linked to it and their CSAT) with forms to post an update or resolve it. Through the core's
IncidentActions, as `engagebot incidents` does; every change is in the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.admin import audit
from bot.admin.accounts import Role, SignedIn
from bot.incidents.actions import SEVERITIES, IncidentError, parse_audience
from bot.incidents.timing import parse_moment
from handlers.admin.context import AdminContext


def _words(form: FormData, name: str) -> list[str]:
    return [part.strip() for part in str(form.get(name) or "").split(",") if part.strip()]


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def audience_of(form: FormData) -> dict[str, Any]:
    """The audience fields of the form as the API takes them (empty fields left out)."""
    audience: dict[str, Any] = {"tiers": _words(form, "tiers"), "tags": _words(form, "tags"),
                                "when": _text(form, "when") or None, "all": form.get("all") == "yes"}  # fmt: skip
    event = {key: _text(form, f"event_{key}") or None for key in ("name", "since", "until", "where")}
    if any(event.values()):
        audience["event"] = event
    return audience


def routes(ctx: AdminContext) -> list[Route]:
    core, render = ctx.core, ctx.render

    def moment(form: FormData) -> datetime | None:
        raw = _text(form, "next_update")
        if not raw:
            return None
        try:
            return parse_moment(raw, core.clock.now(), core.settings.business.zone)
        except ValueError as exc:
            raise IncidentError(f"next update: {exc}") from None

    async def incident_list(request: Request, who: SignedIn) -> Response:
        lines = await core.incidents.list(limit=100)
        return render.page(request, who, "incidents.html", section="incidents", title="Incidents", lines=lines,
                           severities=SEVERITIES)  # fmt: skip

    async def incident_page(request: Request, who: SignedIn) -> Response:
        try:
            report = await core.incidents.show(request.path_params["id"])
        except IncidentError as exc:
            return render.page(request, who, "message.html", status=404, section="incidents", title="No such incident",
                               message=str(exc))  # fmt: skip
        return render.page(request, who, "incident.html", section="incidents", title=report.line.title, report=report)

    async def open_incident(request: Request, who: SignedIn) -> Response:
        form = await request.form()
        try:
            posted = await core.incidents.open(
                title=_text(form, "title"), what_happened=_text(form, "what_happened"),
                what_we_do=_text(form, "what_we_do"), audience=parse_audience(audience_of(form)),
                next_update_at=moment(form), severity=_text(form, "severity") or "normal", by=who.name,
            )  # fmt: skip
        except IncidentError as exc:
            return render.done(request, "/admin/incidents", f"Not opened: {exc}")
        line = posted.incident
        await audit.note(core.db, core.clock.now(), who.name, "incident opened", f"incident:{line.id}",
                         f"{line.title}: {posted.affected} affected")  # fmt: skip
        done = f"Opened: {posted.affected} customers affected, the notice is queued for {posted.queued}."
        return render.done(request, f"/admin/incidents/{line.id}", done)

    async def post_update(request: Request, who: SignedIn) -> Response:
        incident_id = request.path_params["id"]
        form = await request.form()
        resolving = form.get("resolve") == "yes"
        try:
            if resolving:
                posted = await core.incidents.resolve(incident_id, _text(form, "text"), by=who.name)
            else:
                posted = await core.incidents.update(incident_id, _text(form, "text"), next_update_at=moment(form),
                                                     by=who.name)  # fmt: skip
        except IncidentError as exc:
            return render.done(request, f"/admin/incidents/{incident_id}", f"Not sent: {exc}")
        what = "incident resolved" if resolving else "incident update"
        await audit.note(
            core.db, core.clock.now(), who.name, what, f"incident:{incident_id}", _text(form, "text")[:200]
        )
        done = f"{'Resolved' if resolving else 'Update posted'}: queued for {posted.queued} customers."
        return render.done(request, f"/admin/incidents/{incident_id}", done)

    r = ctx.route
    return [
        r("/incidents", Role.viewer, incident_list),
        r("/incidents", Role.editor, open_incident, ("POST",)),
        r("/incidents/{id:int}", Role.viewer, incident_page),
        r("/incidents/{id:int}/updates", Role.editor, post_update, ("POST",)),
    ]
