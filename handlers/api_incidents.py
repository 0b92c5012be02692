"""The incidents under /api (behind the API key of handlers/api.py): open one, post an update, resolve it, list them,
and report on one. Bodies are JSON; a refusal is `{"error": ...}` with 400 (not JSON), 404 (no such incident), 409
(already resolved) or 422 (a field is wrong)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.incidents.actions import IncidentActions, IncidentError, parse_audience
from bot.incidents.timing import parse_moment
from bot.incidents.views import Posted

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]


def incident_routes(incidents: IncidentActions) -> list[Route]:
    return [
        Route("/incidents", _guarded(lambda r: _open(incidents, r)), methods=["POST"]),
        Route("/incidents", _guarded(lambda r: _list(incidents, r)), methods=["GET"]),
        Route("/incidents/{id:int}", _guarded(lambda r: _show(incidents, r)), methods=["GET"]),
        Route("/incidents/{id:int}/updates", _guarded(lambda r: _update(incidents, r)), methods=["POST"]),
        Route("/incidents/{id:int}/resolve", _guarded(lambda r: _resolve(incidents, r)), methods=["POST"]),
    ]


def _guarded(handle: Callable[[Request], Awaitable[Response]]) -> Handler:
    """Refusals as JSON errors, one log line each (no customer data)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handle(request)
        except _BadBody as exc:
            return _refused(400, str(exc))
        except IncidentError as exc:
            message = str(exc)
            status = 404 if message.startswith("no incident") else 409 if "already resolved" in message else 422
            return _refused(status, message)

    return endpoint


class _BadBody(Exception):
    pass


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise _BadBody("body must be a JSON object") from None
    if not isinstance(data, dict):
        raise _BadBody("body must be a JSON object")
    return data


def _moment(data: dict[str, Any], incidents: IncidentActions) -> datetime | None:
    raw = data.get("next_update")
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise IncidentError("next_update must be text: an ISO moment, or a delay like 2h")
    try:
        return parse_moment(raw, incidents.clock.now(), incidents.settings.business.zone)
    except ValueError as exc:
        raise IncidentError(f"next_update: {exc}") from None


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise IncidentError(f"{key} must be text")
    return value or ""


def _posted(posted: Posted, status: int = 200) -> JSONResponse:
    return JSONResponse({**posted.incident.to_json(), "queued": posted.queued,
                         "newly_affected": posted.newly_affected}, status_code=status)  # fmt: skip


async def _open(incidents: IncidentActions, request: Request) -> Response:
    data = await _body(request)
    severity = data.get("severity", "normal")
    posted = await incidents.open(
        title=_text(data, "title"), what_happened=_text(data, "what_happened"), what_we_do=_text(data, "what_we_do"),
        audience=parse_audience(data.get("audience")), next_update_at=_moment(data, incidents),
        severity=severity if isinstance(severity, str) else "", by=_text(data, "by") or "api",
    )  # fmt: skip
    log.info("api: incident #%d opened, %d customers affected", posted.incident.id, posted.affected)
    return _posted(posted, 201)


async def _update(incidents: IncidentActions, request: Request) -> Response:
    data = await _body(request)
    posted = await incidents.update(
        request.path_params["id"], _text(data, "text"), next_update_at=_moment(data, incidents),
        by=_text(data, "by") or "api", what_we_do=_text(data, "what_we_do") or None,
    )  # fmt: skip
    return _posted(posted)


async def _resolve(incidents: IncidentActions, request: Request) -> Response:
    data = await _body(request)
    return _posted(
        await incidents.resolve(request.path_params["id"], _text(data, "text"), by=_text(data, "by") or "api")
    )


async def _list(incidents: IncidentActions, request: Request) -> Response:
    status = request.query_params.get("status")
    if status not in (None, "open", "resolved"):
        raise IncidentError("status must be open or resolved")
    return JSONResponse({"incidents": [line.to_json() for line in await incidents.list(status=status)]})


async def _show(incidents: IncidentActions, request: Request) -> Response:
    return JSONResponse((await incidents.show(request.path_params["id"])).to_json())


def _refused(status: int, message: str) -> JSONResponse:
    log.info("api: incidents request refused (%d)", status)
    return JSONResponse({"error": message}, status_code=status)
