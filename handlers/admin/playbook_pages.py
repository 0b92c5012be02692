"""The playbook pages: one card per practice (win-back, activation, cross-sell, re-survey, rewards, incident texts)
saying in plain words what it does now, and each section's form with help under every field, previews of the
customer texts, Save with a note, and the versions with their differences and Restore. Through the core's
PlaybookConsole; the settings are those config.yaml's sections hold (docs/playbook.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.admin.accounts import Role, SignedIn
from bot.admin.playbook import SectionRefused
from bot.admin.playbook_words import describe, enabled, examples
from bot.config import known_tiers
from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.storage.versioned import SavedVersion, to_source
from handlers.admin import playbook_form
from handlers.admin.context import AdminContext
from handlers.admin.playbook_form import SectionForm

REFUSED = "The settings have problems: fix the fields marked below. Nothing was saved."
# Each section's title on its card and page, and its part of docs/playbook.md (named, not linked: the console does
# not know where an installation's docs are published).
PRACTICES: dict[str, tuple[str, str]] = {
    "winback": ("Win-back", "Why customers leave, and winning them back"),
    "activation": ("Activation", "Activation: the first weeks"),
    "crosssell": ("Cross-sell", "Cross-sell with restraint"),
    "resurvey": ("Re-survey", "The best customers' voice, and asking again"),
    "rewards": ("Rewards", "Rewards, surprise and fair compensation"),
    "incidents": ("Incident notices", "Share bad news first: incidents"),
}


@dataclass(frozen=True)
class Card:
    name: str
    title: str
    says: str
    on: bool | None
    head: SavedVersion | None
    guide: str  # the heading of its part in docs/playbook.md


def _int(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


def routes(ctx: AdminContext) -> list[Route]:
    core, render = ctx.core, ctx.render
    console = core.playbook_console

    def title_of(flow_id: str) -> str:
        lf = core.registry.current(flow_id)
        return (lf.flow.title if lf is not None else "") or flow_id

    async def unknown(request: Request, who: SignedIn) -> Response:
        return render.page(request, who, "message.html", status=404, section="playbook", title="No such practice",
                           message=f"The playbook has no section {request.path_params['name']!r}.")  # fmt: skip

    async def cards_page(request: Request, who: SignedIn) -> Response:
        heads = await console.heads()
        cards = []
        for name in PLAYBOOK_SECTIONS:
            section = console.in_force(name)
            title, guide = PRACTICES[name]
            cards.append(Card(name, title, describe(section, title_of), enabled(section), heads.get(name), guide))
        if request.query_params.get("format") == "json":
            return JSONResponse({"sections": [
                {"name": c.name, "title": c.title, "says": c.says, "enabled": c.on,
                 "version": c.head.number if c.head else None, "origin": c.head.origin if c.head else None,
                 "changed_by": c.head.author if c.head else None,
                 "changed_at": c.head.saved_at.isoformat() if c.head else None} for c in cards
            ]})  # fmt: skip
        return render.page(request, who, "playbook.html", section="playbook", title="Playbook", cards=cards,
                           conflicts=core.section_sync.conflicts)  # fmt: skip

    async def section_page(
        request: Request, who: SignedIn, name: str, form: SectionForm, *, status: int = 200,
        error: str | None = None, shown: Any = None,
    ) -> Response:  # fmt: skip
        section = console.in_force(name)
        history = await console.history(name)
        a, b = _int(request.query_params.get("a")), _int(request.query_params.get("b"))
        if not (a and b) and len(history) >= 2:  # by default, what the newest version changed
            a, b = history[1].number, history[0].number
        title, guide = PRACTICES[name]
        return render.page(
            request,
            who,
            "playbook_edit.html",
            status=status,
            section="playbook",
            title=title,
            name=name,
            practice=title,
            guide=guide,
            form=form,
            head=history[0].number if history else 0,
            says=describe(section, title_of),
            examples=examples(shown if shown is not None else section),
            flows=sorted(
                (lf.id, f"{lf.id}: {lf.flow.title}" if lf.flow.title else lf.id) for lf in core.registry.all()
            ),
            tiers=known_tiers(core.settings),
            pools=sorted(core.settings.rewards.pools),
            history=history,
            diff=await console.diff(name, a, b) if a and b else None,
            a=a,
            b=b,
            source=to_source(section),
            error=error,
        )

    async def show(request: Request, who: SignedIn) -> Response:
        name = request.path_params["name"]
        if name not in PLAYBOOK_SECTIONS:
            return await unknown(request, who)
        section = console.in_force(name)
        if request.query_params.get("format") == "json":
            return JSONResponse({"name": name, "settings": section.model_dump(mode="json"), "versions": [
                {"number": v.number, "origin": v.origin, "author": v.author, "note": v.note,
                 "saved_at": v.saved_at.isoformat()} for v in await console.history(name)]})  # fmt: skip
        return await section_page(request, who, name, playbook_form.form_of(name, section))

    async def save(request: Request, who: SignedIn) -> Response:
        """Preview the draft's texts (nothing saved) or save it; a draft with problems comes back with each problem
        next to its field."""
        name = request.path_params["name"]
        if name not in PLAYBOOK_SECTIONS:
            return await unknown(request, who)
        raw = await request.form()
        form, data = playbook_form.read(name, raw)
        draft, problems = console.check(name, data)
        playbook_form.place(form, problems)
        if form.problems:
            return await section_page(request, who, name, form, status=400, error=REFUSED)
        if raw.get("action") == "preview":
            return await section_page(request, who, name, form, shown=draft)
        try:
            saved = await console.save(name, data, author=who.name, expected_head=_int(raw.get("head")) or 0,
                                       note=str(raw.get("note", "")).strip()[:500])  # fmt: skip
        except SectionRefused as exc:
            playbook_form.place(form, exc.problems)
            return await section_page(request, who, name, form, status=400, error=str(exc))
        return render.done(request, "/admin/playbook",
                           f"{PRACTICES[name][0]} saved (version {saved.number}): in force on every instance within "
                           "seconds.")  # fmt: skip

    async def restore(request: Request, who: SignedIn) -> Response:
        name, number = request.path_params["name"], request.path_params["number"]
        if name not in PLAYBOOK_SECTIONS:
            return await unknown(request, who)
        back = f"/admin/playbook/{name}#versions"
        try:
            saved = await console.restore(name, number, author=who.name)
        except SectionRefused as exc:
            return render.done(request, back, f"Not restored: {exc}")
        return render.done(request, back, f"Version {number} is in force again, as version {saved.number}.")

    r = ctx.route
    return [
        r("/playbook", Role.viewer, cards_page),
        r("/playbook/{name}", Role.viewer, show),
        r("/playbook/{name}", Role.editor, save, ("POST",)),
        r("/playbook/{name}/versions/{number:int}/restore", Role.editor, restore, ("POST",)),
    ]
