"""The campaign pages: the list, one campaign (audience, schedule, message with buttons, the audience preview with
who is left out and why and rendered samples), sending with a confirmation, and an occurrence's status with the
delivery decisions. Through the core's CampaignActions, as `engagebot campaigns` does."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.admin import audit
from bot.admin.accounts import Role, SignedIn
from bot.outreach.campaigns.catalog import CampaignError
from handlers.admin.context import AdminContext

SAMPLES = 5


def routes(ctx: AdminContext) -> list[Route]:
    core, render = ctx.core, ctx.render
    campaigns = core.settings.campaigns

    async def unknown(request: Request, who: SignedIn) -> Response:
        return render.page(
            request,
            who,
            "message.html",
            status=404,
            section="campaigns",
            title="No such campaign",
            message=f"There is no campaign {request.path_params['name']!r} in config.yaml.",
        )

    async def campaign_list(request: Request, who: SignedIn) -> Response:
        return render.page(
            request, who, "campaigns.html", section="campaigns", title="Campaigns", campaigns=sorted(campaigns.items())
        )

    async def campaign_page(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        campaign = campaigns.get(name)
        if campaign is None:
            return await unknown(request, who)
        preview = error = None
        try:
            preview = await core.campaigns.preview(name, SAMPLES)
        except CampaignError as exc:
            error = str(exc)
        runs = await core.campaigns.recent_runs(name, 10)
        return render.page(
            request,
            who,
            "campaign.html",
            section="campaigns",
            title=campaign.title or name,
            name=name,
            campaign=campaign,
            preview=preview,
            error=error,
            runs=runs,
        )

    async def confirm_send(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        campaign = campaigns.get(name)
        if campaign is None:
            return await unknown(request, who)
        error = None
        size = 0
        try:
            size = (await core.campaigns.preview(name, 0)).audience.size
            occurrence = await core.campaigns.occurrence_to_send(name)
        except CampaignError as exc:
            error, occurrence = str(exc), ""
        if not campaign.enabled:
            error = "This campaign is disabled (enabled: false in config.yaml): it cannot be sent."
        return render.page(
            request,
            who,
            "campaign_send.html",
            section="campaigns",
            title=f"Send {name}",
            name=name,
            campaign=campaign,
            size=size,
            occurrence=occurrence,
            error=error,
        )

    async def send(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        if name not in campaigns:
            return await unknown(request, who)
        form = await request.form()
        if form.get("confirm") != "yes":
            return render.done(request, f"/admin/campaigns/{name}/send", "Tick the box to confirm the send.")
        try:
            result = await core.campaigns.send(name)
        except CampaignError as exc:
            return render.done(request, f"/admin/campaigns/{name}", f"Not sent: {exc}")
        await audit.note(
            core.db,
            core.clock.now(),
            who.name,
            "campaign sent",
            f"campaign:{name}",
            f"occurrence {result.occurrence}: {result.added} messages queued",
        )
        message = (
            f"Nothing added: occurrence {result.occurrence} was planned before."
            if result.already_planned
            else f"Queued {result.added} messages ({result.occurrence})."
        )
        return render.done(request, f"/admin/campaigns/{name}/runs/{result.run_id}", message)

    async def run_page(request: Request, who: SignedIn) -> Response:
        name, run_id = request.path_params["name"], request.path_params["run"]
        try:
            progress = await core.campaigns.progress(run_id)
        except CampaignError as exc:
            return render.page(
                request, who, "message.html", status=404, section="campaigns", title="No such send", message=str(exc)
            )
        if progress.campaign != name:
            return await unknown(request, who)
        decisions = sorted(progress.decisions.items(), key=lambda item: (-item[1], item[0]))
        return render.page(
            request,
            who,
            "campaign_run.html",
            section="campaigns",
            title=f"{name}: {progress.occurrence}",
            name=name,
            progress=progress,
            decisions=decisions,
        )

    r = ctx.route
    return [
        r("/campaigns", Role.viewer, campaign_list),
        r("/campaigns/{name}", Role.viewer, campaign_page),
        r("/campaigns/{name}/send", Role.editor, confirm_send),
        r("/campaigns/{name}/send", Role.editor, send, ("POST",)),
        r("/campaigns/{name}/runs/{run:int}", Role.viewer, run_page),
    ]
