"""Staff and routing: the directory from config.yaml, and "who would get this ticket, and why" (`routing explain`
in a page, through the core's TicketQueries.explain_routing)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.admin.accounts import Role, SignedIn
from handlers.admin.context import AdminContext

SEVERITIES = ("low", "normal", "high", "critical")


def routes(ctx: AdminContext) -> list[Route]:
    core, render = ctx.core, ctx.render
    settings = core.settings

    async def staff_page(request: Request, who: SignedIn) -> Response:
        query = request.query_params
        customer, category = query.get("customer", "").strip(), query.get("category", "").strip()
        severity = query.get("severity", "normal")
        explanation = person = error = None
        if customer or category:
            if not customer.isdigit() or not category:
                error = "Give a customer number and a category."
            elif severity not in SEVERITIES:
                error = f"Severity is one of {', '.join(SEVERITIES)}."
            else:
                explanation = await core.ticket_queries.explain_routing(int(customer), category, severity)
                if explanation is None:
                    error = f"There is no customer {customer}."
                elif explanation.decision.staff_key:
                    person = next((m for m in settings.staff if m.key == explanation.decision.staff_key), None)
        return render.page(
            request,
            who,
            "staff.html",
            section="staff",
            title="Staff & routing",
            staff=settings.staff,
            routing=settings.routing,
            customer=customer,
            category=category,
            severity=severity,
            severities=SEVERITIES,
            explanation=explanation,
            person=person,
            error=error,
        )

    return [ctx.route("/staff", Role.viewer, staff_page)]
