"""The campaign pages: the list, one campaign (audience, schedule, message with buttons, the audience preview with
who is left out and why and rendered samples, its versions), creating and editing one (a draft can be previewed
before it is saved), retiring one, sending with a confirmation, and an occurrence's status with the delivery
decisions. Through the core's CampaignConsole and CampaignActions, as `engagebot campaigns` does."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.admin import audit
from bot.admin.accounts import Role, SignedIn
from bot.admin.campaigns import CampaignRefused
from bot.config import Campaign, known_tiers
from bot.outreach.campaigns.catalog import CampaignError
from bot.outreach.campaigns.store import to_source
from handlers.admin import campaign_form
from handlers.admin.campaign_form import CampaignForm
from handlers.admin.context import AdminContext

SAMPLES = 5
REFUSED = "The campaign has problems: fix the fields marked below. Nothing was saved."


def routes(ctx: AdminContext) -> list[Route]:
    core, render = ctx.core, ctx.render
    campaigns, console = core.settings.campaigns, core.campaign_console  # `campaigns`: the ones in force, kept live

    async def unknown(request: Request, who: SignedIn) -> Response:
        return render.page(
            request,
            who,
            "message.html",
            status=404,
            section="campaigns",
            title="No such campaign",
            message=f"There is no campaign {request.path_params['name']!r}.",
        )

    async def campaign_list(request: Request, who: SignedIn) -> Response:
        rows = await console.rows()
        if request.query_params.get("format") == "json":
            return JSONResponse({"campaigns": [
                {"name": r.name, "title": r.campaign.title, "kind": r.campaign.kind, "enabled": r.campaign.enabled,
                 "version": r.version, "changed_by": r.changed_by,
                 "changed_at": r.changed_at.isoformat() if r.changed_at else None} for r in rows
            ]})  # fmt: skip
        return render.page(
            request, who, "campaigns.html", section="campaigns", title="Campaigns", rows=rows,
            conflicts=core.campaign_sync.conflicts,
        )  # fmt: skip

    async def preview_of(name: str, draft: Campaign | None = None) -> tuple[Any, str | None]:
        try:
            return await console.preview(name, SAMPLES, draft), None
        except CampaignError as exc:
            return None, str(exc)

    async def campaign_page(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        campaign = campaigns.get(name)
        if campaign is None:
            return await unknown(request, who)
        preview, error = await preview_of(name)
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
            runs=(await core.campaigns.recent_runs(name, 10))[0],
            versions=await console.history(name),
            source=to_source(campaign),
        )

    def form_page(
        request: Request, who: SignedIn, name: str, form: CampaignForm, *, head: int, creating: bool,
        status: int = 200, preview: Any = None, error: str | None = None,
    ) -> Response:  # fmt: skip
        return render.page(
            request,
            who,
            "campaign_edit.html",
            status=status,
            section="campaigns",
            title="New campaign" if creating else f"Edit {name}",
            name=name,
            form=form,
            head=head,
            creating=creating,
            kinds=campaign_form.KINDS,
            tiers=known_tiers(core.settings),
            flows=[lf.id for lf in core.registry.all()],
            pools=sorted(core.settings.rewards.pools),
            preview=preview,
            error=error,
        )

    async def new_page(request: Request, who: SignedIn) -> Response:
        return form_page(request, who, "", campaign_form.blank(), head=0, creating=True)

    async def edit_page(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        campaign, head = campaigns.get(name), await console.head(name)
        if campaign is None or head is None:
            return await unknown(request, who)
        return form_page(request, who, name, campaign_form.form_of(campaign), head=head.number, creating=False)

    async def submit(request: Request, who: SignedIn, name: str, *, creating: bool) -> Response:
        """Preview the draft (nothing saved) or save it; either way a draft with problems comes back with each
        problem next to its field."""
        raw = await request.form()
        form, data = campaign_form.read(raw)
        head_field = str(raw.get("head", ""))
        head = int(head_field) if head_field.isdigit() else 0
        draft, problems = console.check(data)
        form.problems = {**problems, **form.problems}
        if creating and raw.get("action") == "preview" and not name:
            form.problems.setdefault("name", "give the campaign a name first")
        if form.problems:
            return form_page(request, who, name, form, head=head, creating=creating, status=400, error=REFUSED)
        assert draft is not None
        if raw.get("action") == "preview":
            preview, error = await preview_of(name, draft)
            return form_page(request, who, name, form, head=head, creating=creating, preview=preview, error=error)
        try:
            saved = await console.save(name, data, author=who.name, expected_head=head, creating=creating)
        except CampaignRefused as exc:
            form.problems.update(exc.problems)
            return form_page(request, who, name, form, head=head, creating=creating, status=400, error=str(exc))
        what = "created" if creating else "saved"
        return render.done(request, f"/admin/campaigns/{name}",
                           f"Campaign {name} {what} (version {saved.number}): in force on every instance within "
                           "seconds.")  # fmt: skip

    async def create(request: Request, who: SignedIn) -> Response:
        name = str((await request.form()).get("name", "")).strip()
        return await submit(request, who, name, creating=True)

    async def edit(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        if name not in campaigns:
            return await unknown(request, who)
        return await submit(request, who, name, creating=False)

    async def retire(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        head = await console.head(name)
        if name not in campaigns or head is None:
            return await unknown(request, who)
        form = await request.form()
        if form.get("confirm") != "yes":
            return render.done(request, f"/admin/campaigns/{name}", "Tick the box to confirm retiring the campaign.")
        try:
            await console.retire(name, author=who.name, expected_head=head.number)
        except CampaignRefused as exc:
            return render.done(request, f"/admin/campaigns/{name}", f"Not retired: {exc}")
        return render.done(request, "/admin/campaigns", f"Campaign {name} retired: no instance plans or sends it.")

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
            error = "This campaign is disabled: enable it (Edit) before sending it."
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
        r("/campaigns/new", Role.editor, new_page),
        r("/campaigns/new", Role.editor, create, ("POST",)),
        r("/campaigns/{name}", Role.viewer, campaign_page),
        r("/campaigns/{name}/edit", Role.editor, edit_page),
        r("/campaigns/{name}/edit", Role.editor, edit, ("POST",)),
        r("/campaigns/{name}/retire", Role.editor, retire, ("POST",)),
        r("/campaigns/{name}/send", Role.editor, confirm_send),
        r("/campaigns/{name}/send", Role.editor, send, ("POST",)),
        r("/campaigns/{name}/runs/{run:int}", Role.viewer, run_page),
    ]
