"""The admin HTTP API under /api: CRM events in, a customer's profile, export and deletion out.

Every request needs the API key (ENGAGEBOT_API_KEY) as `Authorization: Bearer <key>` or
`X-API-Key: <key>`. The key is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections import Counter
from typing import Any
from urllib.parse import unquote

from pydantic import SecretStr
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.core import Core
from bot.customers import amounts, events, privacy
from bot.customers.actions import CustomerActions
from bot.customers.profile import FieldError
from bot.customers.views import CustomerExport, CustomerProfile, Erasure
from bot.rewards.actions import RewardActions
from handlers.api_incidents import incident_routes
from handlers.ratelimit import RefusalLog

log = logging.getLogger(__name__)
STALE = f"{events.STALE_AFTER.days} days"


class ApiKeyAuth:
    """Plain ASGI middleware: no key configured -> 503; a missing or wrong key -> 401."""

    def __init__(self, app: ASGIApp, key: SecretStr | None):
        self.app = app
        self.key = key.get_secret_value().encode() if key is not None else None
        self.refusals = RefusalLog(log)  # anyone can guess keys: a flood of wrong ones is a few lines, not one each

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.key is None:
            response: Response = _error(503, "the API is off: set ENGAGEBOT_API_KEY in the environment to turn it on")
        elif not hmac.compare_digest(_presented_key(Request(scope)), self.key):
            client = (scope.get("client") or ("-", 0))[0]
            self.refusals.refused(client, 0, "api: %s %s without the right API key refused; from %s", scope["method"],
                                  scope["path"], client)  # fmt: skip
            response = _error(401, "missing or wrong API key: send Authorization: Bearer <key> or X-API-Key: <key>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="engagebot"'
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


def _presented_key(request: Request) -> bytes:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip().encode()
    return request.headers.get("x-api-key", "").strip().encode()


def api_mount(core: Core) -> Mount:
    customers = core.customers
    routes = [
        Route("/events", _post_events(customers, core.rewards), methods=["POST"]),
        # {ref:path}: an external id may hold "/" (sent as %2F).
        Route("/customers/{ref:path}/export", _on_customer(customers), methods=["GET"]),
        Route("/customers/{ref:path}", _on_customer(customers), methods=["GET", "DELETE"]),
        *incident_routes(core.incidents),
    ]
    return Mount("/api", routes=routes, middleware=[Middleware(ApiKeyAuth, key=core.settings.secrets.api_key)])


def _post_events(customers: CustomerActions, rewards: RewardActions) -> Any:
    async def post_events(request: Request) -> Response:
        body = await request.body()  # bounded as it streams in (handlers.bodylimit: server.max_body_bytes)
        try:
            data = json.loads(body, parse_int=amounts.read_json_int)  # 100,000 digits: refused by field, not slow
        except (ValueError, RecursionError):
            log.info("api: refused a body that is not JSON (400)")
            return _error(400, "body must be JSON: one event object or a list of events")
        batch = isinstance(data, list)
        try:
            results = await customers.record_events(data)
        except events.EventConflict as exc:
            return _field_errors(409, exc.errors)
        except events.EventErrors as exc:  # a bad event, or valid alone but a total would pass its limit
            return _field_errors(422, exc.errors)
        if not batch and isinstance(results[0], events.Conflict):
            return _field_errors(409, [results[0].error])
        await rewards.redeemed_events(data)  # reward_redeemed: its code is marked used (idempotent)
        answers = [_answer(r) for r in results]
        counts = Counter(answer["status"] for answer in answers)
        log.info("api: %d CRM events recorded, %d duplicates, %d conflicts", counts["recorded"], counts["duplicate"],
                 counts["conflict"])  # fmt: skip
        if batch:
            return JSONResponse({"recorded": counts["recorded"], "duplicates": counts["duplicate"],
                                 "conflicts": counts["conflict"], "results": answers})  # fmt: skip
        return JSONResponse(answers[0], status_code=200 if answers[0]["status"] == "duplicate" else 201)

    return post_events


def _answer(recorded: events.Outcome) -> dict[str, Any]:
    if isinstance(recorded, events.Conflict):  # in a batch: this event is not recorded, the others are
        return {"status": "conflict", "field": recorded.error.field, "error": str(recorded.error)}
    answer: dict[str, Any] = {
        "status": "duplicate" if recorded.duplicate else "recorded",
        "id": recorded.id,
        "customer_id": recorded.customer_id,
    }
    if not recorded.duplicate:
        answer["customer_created"] = recorded.customer_created
        answer["flows"] = "queued" if recorded.flows_queued else f"not started: the event is older than {STALE}"
    return answer


def _on_customer(customers: CustomerActions) -> Any:
    """A route on /customers/{ref}: its profile (GET), its export (GET .../export), or its erasure (DELETE); 400 for a
    malformed reference, 404 when nobody has it."""

    async def handle(request: Request) -> Response:
        ref, exporting = _ref_as_sent(request)
        try:
            parsed = privacy.parse_ref(ref)
        except ValueError as exc:
            log.info("api: refused a malformed customer reference (400)")
            return _error(400, str(exc))
        found: CustomerProfile | CustomerExport | Erasure | None
        if request.method == "DELETE" and exporting:
            # An export is read, never deleted: erasing the customer here would surprise whoever sent it.
            return JSONResponse({"error": "an export is only read (GET); DELETE /api/customers/REF erases"},
                                status_code=405, headers={"Allow": "GET"})  # fmt: skip
        if request.method == "DELETE":
            found = await customers.erase(parsed)
            if found is not None:
                log.info("api: customer #%d deleted", found.customer_id)
        elif exporting:
            found = await customers.export(parsed)
        else:
            found = await customers.profile(parsed)
        return _error(404, f"no customer {ref}") if found is None else JSONResponse(found.to_json())

    return handle


def _ref_as_sent(request: Request) -> tuple[str, bool]:
    """The reference from the raw path, and whether the export was asked for. Routing sees the decoded
    path, where an external id with an encoded "/" (ext:team%2Fexport) would look like an export."""
    raw = request.scope.get("raw_path")
    if not raw:
        return request.path_params["ref"], request.url.path.endswith("/export")
    tail = raw.decode("latin-1").split("?", 1)[0].split("/customers/", 1)[-1]
    exporting = tail.endswith("/export")
    return unquote(tail.removesuffix("/export") if exporting else tail), exporting


def _field_errors(status: int, errors: list[FieldError]) -> JSONResponse:
    # One line per refusal, naming the fields but not their values (customer data stays out of the log).
    fields = ", ".join(e.field for e in errors[:5]) + (f" and {len(errors) - 5} more" if len(errors) > 5 else "")
    log.info("api: refused (%d): %s", status, fields.encode("unicode_escape").decode("ascii"))
    return JSONResponse(
        {
            "error": "; ".join(str(e) for e in errors),
            "fields": [{"field": e.field, "message": e.message} for e in errors],
        },
        status_code=status,
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
