"""The reward pages: every pool's stock (codes left, given, redeemed, a warning when empty or low), and one pool's
ledger (paged, filtered, as CSV) with the forms to import codes from a CSV file and to give a code by hand. Through
the core's RewardActions, as `engagebot rewards` does; every change is in the audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.admin import audit
from bot.admin.accounts import Role, SignedIn
from bot.rewards.actions import HandGiven, Imported, PoolSummary, RewardError
from bot.rewards.ledger import LedgerLine, Shown
from handlers.admin.context import AdminContext
from handlers.bodylimit import BodyLimits
from handlers.report_csv import spreadsheet_safe

PROBLEMS_SHOWN = 50  # bad lines listed after an import; the rest are counted
LEDGER_COLUMNS = ["code", "customer_id", "customer", "external_id", "why", "given_by", "given_at", "redeemed_at"]


def pool_json(p: PoolSummary) -> dict[str, Any]:
    return {"pool": p.name, "title": p.title, "description": p.description, "generated": p.generated,
            "codes_left": p.free, "given": p.given, "redeemed": p.redeemed, "redemption_rate": p.redemption_rate,
            "alert_below": p.alert_below, "state": p.state}  # fmt: skip


def ledger_row(line: LedgerLine) -> dict[str, str]:
    values = {"code": line.code, "customer_id": line.customer_id, "customer": line.customer_name,
              "external_id": line.external_id, "why": line.why, "given_by": line.given_by,
              "given_at": line.given_at.isoformat() if line.given_at else None,
              "redeemed_at": line.redeemed_at.isoformat() if line.redeemed_at else None}  # fmt: skip
    return {key: spreadsheet_safe("" if value is None else str(value)) for key, value in values.items()}


def size_text(size: int) -> str:
    """1048576 -> "1 MB", 65536 -> "64 KB": the upload limit as the form says it."""
    return f"{size / 2**20:g} MB" if size >= 2**20 else f"{size // 1024} KB"


def csv_lines(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def given_message(pool: str, done: HandGiven, alert_channel: str) -> str:
    """The one line after a hand-given reward: the code to pass on, the one the customer already had, or why none."""
    who = f"customer #{done.customer_id}" + (f" ({done.customer_name})" if done.customer_name else "")
    given = done.given
    if given.missing == "empty":
        return f"Nothing given: pool {pool} is empty. Staff were alerted on {alert_channel}; import codes below."
    if given.already:
        return f"Nothing new given: {who} already has a code from this pool: {given.code}."
    return f"Gave {given.code} to {who}. Pass it on to them: the console sends no message."


def import_summary(done: Imported) -> str:
    parts = [f"{done.added} added", f"{done.already_there} already in the pool"]
    if done.repeated:
        parts.append(f"{done.repeated} repeated in the file")
    parts.append(f"{len(done.problems)} invalid")
    return "Imported: " + ", ".join(parts) + "."


def routes(ctx: AdminContext) -> list[Route]:
    # The settings are read at each request, not kept here: the pools can be edited while the server runs.
    core, render = ctx.core, ctx.render

    def upload_limit(pool: str) -> int:
        server = core.settings.server
        limits = BodyLimits(server.max_body_bytes, server.max_body_bytes_by_path)
        return limits.for_path(f"/admin/rewards/{pool}/import")

    def shown_of(request: Request) -> Shown:
        try:
            return Shown(request.query_params.get("show", Shown.GIVEN))
        except ValueError:
            return Shown.GIVEN

    async def no_pool(request: Request, who: SignedIn, pool: str) -> Response:
        known = ", ".join(sorted(core.settings.rewards.pools)) or "none"
        message = f"There is no reward pool {pool!r} under rewards.pools (known: {known})."
        return render.page(request, who, "message.html", status=404, section="rewards", title="No such pool",
                           message=message)  # fmt: skip

    async def pool_list(request: Request, who: SignedIn) -> Response:
        pools = await core.rewards.pools()
        if request.query_params.get("format") == "json":
            return JSONResponse({"pools": [pool_json(p) for p in pools]})
        return render.page(request, who, "rewards.html", section="rewards", title="Rewards", pools=pools,
                           configured=set(core.settings.rewards.pools),
                           alert_channel=core.settings.rewards.alert_channel)  # fmt: skip

    async def pool_page(
        request: Request, who: SignedIn, *, status: int = 200, imported: Imported | None = None,
        imported_from: str = "", error: str | None = None,
    ) -> Response:  # fmt: skip
        pool = request.path_params["pool"]
        if pool not in core.settings.rewards.pools:
            return await no_pool(request, who, pool)
        shown = shown_of(request)
        if request.query_params.get("format") == "csv":
            return ledger_csv(pool, shown)
        page_number = request.query_params.get("page", "1")
        ledger = await core.rewards.ledger(pool, shown, int(page_number) if page_number.isdigit() else 1)
        limit = upload_limit(pool)
        summary = next(p for p in await core.rewards.pools() if p.name == pool)
        if request.query_params.get("format") == "json":
            lines = [ledger_row(line) for line in ledger.lines]
            return JSONResponse({**pool_json(summary), "total": ledger.total, "page": ledger.page,
                                 "pages": ledger.pages, "lines": lines})  # fmt: skip
        return render.page(
            request, who, "reward_pool.html", status=status, section="rewards", title=summary.title or pool,
            pool=summary, ledger=ledger, shown=shown.value, filters=[s.value for s in Shown],
            example=summary.example_code(), upload_limit=limit, upload_size=size_text(limit),
            imported=imported, imported_from=imported_from, error=error,
            problems=imported.problems[:PROBLEMS_SHOWN] if imported else [],
            alert_channel=core.settings.rewards.alert_channel,
        )  # fmt: skip

    def ledger_csv(pool: str, shown: Shown) -> Response:
        async def chunks() -> AsyncIterator[str]:
            yield csv_lines([LEDGER_COLUMNS])
            async for lines in core.rewards.ledger_export(pool, shown):
                yield csv_lines([list(ledger_row(line).values()) for line in lines])

        disposition = f'attachment; filename="rewards-{pool}-{shown.value}.csv"'
        return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})  # fmt: skip

    async def import_codes(request: Request, who: SignedIn) -> Response:
        pool = request.path_params["pool"]
        if pool not in core.settings.rewards.pools:
            return await no_pool(request, who, pool)
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await pool_page(request, who, status=400, error="Choose a CSV file to import.")
        try:
            text = (await upload.read()).decode("utf-8-sig")
        except UnicodeDecodeError:
            error = f"{upload.filename} is not UTF-8 text: save it as CSV (UTF-8) and try again."
            return await pool_page(request, who, status=400, error=error)
        try:
            done = await core.rewards.import_codes(pool, text)
        except RewardError as exc:
            return await pool_page(request, who, status=400, error=f"Not imported: {exc}")
        await audit.note(core.db, core.clock.now(), who.name, "reward codes imported", f"rewards:{pool}",
                         f"{upload.filename}: {import_summary(done)}")  # fmt: skip
        return await pool_page(request, who, imported=done, imported_from=upload.filename)

    async def give(request: Request, who: SignedIn) -> Response:
        pool = request.path_params["pool"]
        if pool not in core.settings.rewards.pools:
            return await no_pool(request, who, pool)
        form = await request.form()
        customer, reason = str(form.get("customer") or ""), str(form.get("reason") or "")
        try:
            done = await core.rewards.give_by_hand(pool, customer, reason, who.name)
        except RewardError as exc:
            return render.done(request, f"/admin/rewards/{pool}", f"Not given: {exc}")
        if done.given.given and not done.given.already:
            await audit.note(core.db, core.clock.now(), who.name, "reward given by hand",
                             f"customer:{done.customer_id}", f"{pool}: {' '.join(reason.split())[:150]}")  # fmt: skip
        said = given_message(pool, done, core.settings.rewards.alert_channel)
        return render.done(request, f"/admin/rewards/{pool}", said)

    r = ctx.route
    return [
        r("/rewards", Role.viewer, pool_list),
        r("/rewards/{pool}", Role.viewer, pool_page),
        r("/rewards/{pool}/import", Role.editor, import_codes, ("POST",)),
        r("/rewards/{pool}/give", Role.editor, give, ("POST",)),
    ]
