"""The flow pages: the list, the editor's three views (customer texts, YAML with the live check, the graph), the
versions with diff and rollback, a new flow from the starter template, and the preview's JSON endpoint."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.admin.accounts import Role, SignedIn
from bot.admin.flowgraph import svg
from bot.admin.flows import FlowRefused, starter_source
from bot.admin.preview import PreviewError, PreviewRequest
from bot.admin.texts import apply_texts, customer_texts
from bot.conversations.loader import LoadedFlow, parse_flow
from bot.yamlsource import Problem
from handlers.admin.context import AdminContext

FLOW_ID = re.compile(r"[a-z][a-z0-9_]{0,59}")
TEXT_PREFIX = "text:"


def problem_dicts(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"line": p.line, "message": p.message} for p in problems]


def routes(ctx: AdminContext) -> list[Route]:
    core, render = ctx.core, ctx.render
    console = core.flow_console

    async def head_of(flow_id: str) -> tuple[LoadedFlow | None, int]:
        """The flow in force and the version number an edit starts from (0: never published)."""
        history = await core.flowstore.history(flow_id)
        return core.registry.current(flow_id), (history[0].number if history else 0)

    def editor(request: Request, who: SignedIn, view: str, lf: LoadedFlow, head: int, **ctx_: Any) -> Response:
        return render.page(
            request,
            who,
            f"flow_{view}.html",
            section="flows",
            title=lf.flow.title or lf.id,
            flow=lf,
            view=view,
            head=head,
            **ctx_,
        )

    async def missing(request: Request, who: SignedIn) -> Response:
        return render.page(
            request,
            who,
            "message.html",
            status=404,
            section="flows",
            title="No such flow",
            message=f"There is no flow {request.path_params['flow']!r} in force.",
        )

    async def flow_list(request: Request, who: SignedIn) -> Response:
        rows = await console.rows()
        if request.query_params.get("format") == "json":
            return JSONResponse(
                {
                    "flows": [
                        {
                            "id": r.id,
                            "title": r.title,
                            "triggers": r.triggers,
                            "valid": r.valid,
                            "in_progress": r.in_progress,
                            "version": r.version,
                            "changed_at": r.changed_at.isoformat() if r.changed_at else None,
                            "changed_by": r.changed_by,
                        }
                        for r in rows
                    ]
                }
            )
        return render.page(
            request, who, "flows.html", section="flows", title="Flows", rows=rows, refused=core.flow_problems,
            retired=await console.retired(),
        )  # fmt: skip

    async def texts_page(request: Request, who: SignedIn) -> Response:
        lf, head = await head_of(request.path_params["flow"])
        if lf is None:
            return await missing(request, who)
        return editor(request, who, "texts", lf, head, fields=customer_texts(lf))

    async def texts_publish(request: Request, who: SignedIn) -> Response:
        lf, head = await head_of(request.path_params["flow"])
        if lf is None:
            return await missing(request, who)
        form = await request.form()
        edits = {k[len(TEXT_PREFIX) :]: str(v) for k, v in form.items() if k.startswith(TEXT_PREFIX)}
        source = apply_texts(lf.source, edits)
        try:
            await console.publish(
                lf.id,
                source,
                author=who.name,
                note=str(form.get("note", "")).strip() or "wording changed in the texts form",
                expected_head=_int(form.get("head")),
            )
        except FlowRefused as exc:
            fields = customer_texts(lf)
            return editor(
                request,
                who,
                "texts",
                lf,
                head,
                fields=fields,
                error=str(exc),
                status=400,
                edits=edits,
                problems=exc.problems,
            )
        return render.done(request, f"/admin/flows/{lf.id}/texts", "Published: customers get the new wording now.")

    async def yaml_page(request: Request, who: SignedIn) -> Response:
        lf, head = await head_of(request.path_params["flow"])
        if lf is None:
            return await missing(request, who)
        return editor(request, who, "yaml", lf, head, source=lf.source, problems=[], steps=_steps(lf))

    async def yaml_publish(request: Request, who: SignedIn) -> Response:
        lf, head = await head_of(request.path_params["flow"])
        if lf is None:
            return await missing(request, who)
        form = await request.form()
        source = str(form.get("source", "")).replace("\r\n", "\n")
        try:
            await console.publish(
                lf.id,
                source,
                author=who.name,
                note=str(form.get("note", "")).strip(),
                expected_head=_int(form.get("head")),
            )
        except FlowRefused as exc:
            return render.page(
                request,
                who,
                "flow_yaml.html",
                status=400,
                section="flows",
                title=lf.flow.title,
                flow=lf,
                view="yaml",
                head=head,
                source=source,
                problems=exc.problems,
                error=str(exc),
                steps=_steps(lf),
            )
        return render.done(request, f"/admin/flows/{lf.id}/yaml", "Published.")

    async def check(request: Request, who: SignedIn) -> Response:
        data = await _json(request)
        flow_id = request.path_params["flow"]
        new = flow_id == "new"
        source = str(data.get("source", ""))
        _lf, problems = console.check(None if new else flow_id, source, "draft.yaml")
        return JSONResponse({"valid": not problems, "problems": problem_dicts(problems)})

    async def graph_page(request: Request, who: SignedIn) -> Response:
        lf, head = await head_of(request.path_params["flow"])
        if lf is None:
            return await missing(request, who)
        drawing = svg(lf, link=f"/admin/flows/{lf.id}/texts#step-{{index}}")
        return editor(request, who, "graph", lf, head, drawing=drawing)

    async def versions_page(request: Request, who: SignedIn) -> Response:
        lf, head = await head_of(request.path_params["flow"])
        if lf is None:
            return await missing(request, who)
        history = await core.flowstore.history(lf.id)
        if request.query_params.get("format") == "json":
            return JSONResponse({"flow": lf.id, "versions": [
                {"number": v.number, "version": v.version, "author": v.author, "origin": v.origin, "note": v.note,
                 "published_at": v.published_at.isoformat()} for v in history]})  # fmt: skip
        a, b = _int(request.query_params.get("a")), _int(request.query_params.get("b"))
        if not (a and b) and len(history) >= 2:  # by default, what the newest version changed
            a, b = history[1].number, history[0].number
        diff = await console.diff(lf.id, a, b) if a and b else None
        return editor(request, who, "versions", lf, head, history=history, diff=diff, a=a, b=b)

    async def rollback(request: Request, who: SignedIn) -> Response:
        flow_id, number = request.path_params["flow"], int(request.path_params["number"])
        try:
            published = await console.rollback(flow_id, number, author=who.name)
        except FlowRefused as exc:
            return render.done(request, f"/admin/flows/{flow_id}/versions", f"Not rolled back: {exc}")
        return render.done(
            request,
            f"/admin/flows/{flow_id}/versions",
            f"Rolled back: version {number} is in force again, as version {published.number}.",
        )

    async def retire(request: Request, who: SignedIn) -> Response:
        flow_id = request.path_params["flow"]
        form = await request.form()
        back = f"/admin/flows/{flow_id}/versions"
        if form.get("confirm") != "yes":
            return render.done(request, back, "Tick the box to confirm retiring the flow.")
        try:
            await console.retire(flow_id, author=who.name, expected_head=_int(form.get("head")) or 0,
                                 campaigns=core.settings.campaigns)  # fmt: skip
        except FlowRefused as exc:
            return render.done(request, back, f"Not retired: {exc}")
        return render.done(request, "/admin/flows", f"Flow {flow_id} retired: no instance starts it any more.")

    async def new_page(request: Request, who: SignedIn) -> Response:
        flow_id = request.query_params.get("flow", "").strip()
        title = request.query_params.get("title", "").strip()
        error = None
        if flow_id and not FLOW_ID.fullmatch(flow_id):
            error = "An id is lowercase letters, digits and _, starting with a letter (e.g. spring_offer)."
        elif flow_id and core.registry.current(flow_id) is not None:
            error = f"A flow {flow_id} exists already."
        source = starter_source(flow_id, title) if flow_id and not error else None
        steps = _steps(parse_flow(source, f"{flow_id}.yaml")) if source else []
        return render.page(
            request,
            who,
            "flow_new.html",
            section="flows",
            title="New flow",
            flow_id=flow_id,
            flow_title=title,
            source=source,
            error=error,
            problems=[],
            steps=steps,
        )

    async def new_publish(request: Request, who: SignedIn) -> Response:
        form = await request.form()
        source = str(form.get("source", "")).replace("\r\n", "\n")
        try:
            published = await console.publish(
                None,
                source,
                author=who.name,
                note=str(form.get("note", "")).strip() or "created from the starter flow",
                expected_head=0,
            )
        except FlowRefused as exc:
            return render.page(
                request,
                who,
                "flow_new.html",
                status=400,
                section="flows",
                title="New flow",
                flow_id=str(form.get("flow", "")),
                flow_title="",
                source=source,
                error=str(exc),
                problems=exc.problems,
                steps=[],
            )
        return render.done(request, f"/admin/flows/{published.flow_id}/texts", f"Flow {published.flow_id} created.")

    async def preview(request: Request, who: SignedIn) -> Response:
        data = await _json(request)
        try:
            answer = await core.previews.act(who.name, PreviewRequest.of(data))
        except PreviewError as exc:
            return JSONResponse({"error": str(exc), "problems": problem_dicts(exc.problems)}, status_code=400)
        return JSONResponse(answer)

    r = ctx.route
    return [
        r("/flows", Role.viewer, flow_list),
        r("/flows/new", Role.editor, new_page),
        r("/flows/new", Role.editor, new_publish, ("POST",)),
        r("/flows/{flow}/check", Role.viewer, check, ("POST",)),
        r("/flows/{flow}/preview", Role.viewer, preview, ("POST",)),
        r("/flows/{flow}", Role.viewer, texts_page),
        r("/flows/{flow}/texts", Role.viewer, texts_page),
        r("/flows/{flow}/texts", Role.editor, texts_publish, ("POST",)),
        r("/flows/{flow}/yaml", Role.viewer, yaml_page),
        r("/flows/{flow}/yaml", Role.editor, yaml_publish, ("POST",)),
        r("/flows/{flow}/graph", Role.viewer, graph_page),
        r("/flows/{flow}/versions", Role.viewer, versions_page),
        r("/flows/{flow}/versions/{number:int}/rollback", Role.editor, rollback, ("POST",)),
        r("/flows/{flow}/retire", Role.editor, retire, ("POST",)),
    ]


def _steps(lf: LoadedFlow) -> list[tuple[int, str]]:
    return [
        (i, f"{i + 1}. {step.id or type(step).__name__.removesuffix('Step').lower()}")
        for i, step in enumerate(lf.flow.steps)
    ]


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
