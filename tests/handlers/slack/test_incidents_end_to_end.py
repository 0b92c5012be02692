"""An incident and a reward from end to end, over real HTTP: the CRM posts shipments and the incident through the API,
the one affected Telegram customer gets the notice (the other nothing), her complaint hears the incident's status
first and its Slack post shows the incident, the Resolve form gives her a code of a reward pool as compensation, the
pool runs out on the next customer (who hears so) and staff are alerted in Slack, and the API reports it all. The
whole app (build_app) against the Telegram and Slack stand-ins, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from handlers.server import build_app
from handlers.slack.blocks import COMPENSATION_INPUT, RESOLUTION_INPUT, RESOLVE_VIEW, REWARD_INPUT
from tests.conftest import FixedClock
from tests.handlers.slack.harness import ANA, SUPPORT, StaffSide, eventually, running, slack_settings
from tests.handlers.telegram.harness import TgUser
from tests.support.botapi_standin import BotApiStandIn
from tests.support.slack_standin import SlackApiStandIn, view_submission

KEY = "test-api-key-0123456789"
POOLS = {"pools": {"sorry": {"title": "Apology voucher", "description": "10% off your next order"}},
         "alert_channel": SUPPORT}  # fmt: skip
INCIDENT = {
    "title": "Late deliveries from Leeds", "what_happened": "A storm closed our Leeds warehouse.",
    "what_we_do": "Your orders are moving to Manchester.", "next_update": "4h", "severity": "high",
    "audience": {"event": {"name": "order_shipped", "since": "2026-02-27", "until": "2026-03-02",
                           "where": "event.data.warehouse == 'LDS'"}},
}  # fmt: skip


async def complain(customer: TgUser, words: str) -> list[str]:
    """The complaint flow to its end (leaving the welcome's open question); what the bot says last."""
    said = await customer.say("I want to complain", 3)
    assert said[0] == "Let's leave my question for now." and said[2].startswith("What happened?")
    await customer.say(words, 1)
    await customer.press("Order & delivery", 1)
    await customer.press("Skip", 1)
    seen = len(customer.messages())
    customer.push(customer.press_update("Quite a lot"))
    await eventually(lambda: any("Your reference is" in m for m in customer.messages()[seen:]))
    return customer.messages()[seen:]


async def resolve_with_reward(staff: StaffSide, root: dict[str, Any], resolution: str, pool: str) -> None:
    view = await staff.open_resolve(ANA, root)
    assert "Reward code as compensation" in str(view["blocks"])  # the form offers the pools
    chosen = {"type": "static_select", "selected_option": {"value": pool}}
    values = {
        RESOLUTION_INPUT[0]: {RESOLUTION_INPUT[1]: resolution},
        COMPENSATION_INPUT[0]: {COMPENSATION_INPUT[1]: ""},
        REWARD_INPUT[0]: {REWARD_INPUT[1]: chosen},
    }
    answer = await staff.send(view_submission(ANA, RESOLVE_VIEW, state_values=values, view=view))
    assert answer.status_code == 200


async def test_an_incident_reaches_the_affected_customer_links_her_complaint_and_a_reward_compensates(
    tmp_path: Path, database_url: str, flows_dir: Path, slack: SlackApiStandIn, telegram: BotApiStandIn,
    clock: FixedClock,
) -> None:  # fmt: skip
    settings = slack_settings(tmp_path, database_url, flows_dir, slack, telegram=telegram,
                              env={"ENGAGEBOT_API_KEY": KEY}, rewards=POOLS)  # fmt: skip
    app = build_app(settings, clock=clock, background=False)
    joana, pedro = TgUser(telegram, 42, first_name="Joana"), TgUser(telegram, 43, first_name="Pedro")
    async with running(app, slack, telegram) as staff:
        await staff.core.rewards.import_codes("sorry", "code\nSORRY-7F3K\n")
        base = staff.url.removesuffix("/slack/events")
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as api:
            for chat, warehouse in ((42, "LDS"), (43, "MAN")):
                await TgUser(telegram, chat).say("hi", 2)  # the welcome and its first question
                shipped = await api.post("/api/events", json={
                    "event": "order_shipped", "event_id": f"ship-{chat}", "occurred_at": "2026-03-01T10:00:00Z",
                    "customer": {"external_id": f"C-{chat}", "telegram_chat_id": chat},
                    "data": {"warehouse": warehouse},
                })  # fmt: skip
                assert shipped.status_code == 201, shipped.text

            opened = await api.post("/api/incidents", json=INCIDENT)
            assert opened.status_code == 201, opened.text
            incident = opened.json()
            assert (incident["affected"], incident["queued"], incident["status"]) == (1, 1, "open")
            seen_pedro = len(pedro.messages())
            await staff.dispatch()
            notice = (await joana.expect(len(joana.messages()) - 1, 1))[0]
            assert notice == (
                "⚠️ Late deliveries from Leeds\nA storm closed our Leeds warehouse.\n"
                "What we are doing: Your orders are moving to Manchester.\nNext update: Mon 02 Mar 13:00"
            )
            await staff.dispatch()
            assert sum(m.startswith("⚠️") for m in joana.messages()) == 1  # once
            assert len(pedro.messages()) == seen_pedro  # not affected: nothing

            # Joana complains: she hears the incident's status first, and the ticket carries it into Slack.
            said = await complain(joana, "Where is my parcel?")
            assert said[0].startswith("We know about this: Late deliveries from Leeds (open). Your orders are moving")
            assert "Your reference is C-1001" in said[1]
            await staff.dispatch()
            root = staff.root()
            fields = " ".join(f["text"] for f in root["blocks"][1]["fields"])
            assert "*Incident*\n:warning: #1 Late deliveries from Leeds" in fields

            # Ana resolves it with a code of the apology pool; Joana reads it with the resolution.
            await staff.claim(ANA, root)
            seen = len(joana.messages())
            await resolve_with_reward(staff, root, "Your parcel left Manchester today.", "sorry")
            await eventually(lambda: any("SORRY-7F3K" in m for m in joana.messages()[seen:]))
            told = next(m for m in joana.messages()[seen:] if "SORRY-7F3K" in m)
            assert "As an apology: code SORRY-7F3K (10% off your next order)" in told

            # Pedro complains too (no incident for him); the pool is empty now: he is told, staff are alerted.
            said = await complain(pedro, "Wrong size")
            assert not any("We know about this" in m for m in said)
            await staff.dispatch()
            pedro_root = next(r for r in staff.roots() if "C-1002" in r["text"])
            assert "*Incident*" not in str(pedro_root["blocks"])
            seen = len(pedro.messages())
            await resolve_with_reward(staff, pedro_root, "A new one is on its way.", "sorry")
            await eventually(lambda: any("run out" in m for m in pedro.messages()[seen:]))
            await staff.dispatch()
            alerts = [p["text"] for p in slack.posts(SUPPORT) if "Reward pool" in p["text"]]
            assert len(alerts) == 1 and "`sorry` is empty" in alerts[0]

            # The shop reports the code used; the incident is resolved; the API shows who was told and who complained.
            redeemed = await api.post("/api/events", json={"event": "reward_redeemed", "event_id": "r-1",
                                                           "customer": {"external_id": "C-42"},
                                                           "data": {"code": "SORRY-7F3K"}})  # fmt: skip
            assert redeemed.status_code == 201
            (line,) = await staff.core.rewards.given("sorry")
            assert line.redeemed_at is not None and line.reason == "ticket:C-1001"
            resolved = await api.post(
                f"/api/incidents/{incident['id']}/resolve", json={"text": "All orders delivered."}
            )
            assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
            await staff.dispatch()
            await eventually(lambda: any(m.startswith("✅ Resolved: Late deliveries") for m in joana.messages()))
            report = (await api.get(f"/api/incidents/{incident['id']}")).json()
            assert (report["affected"], report["notified"]) == (1, 1)
            assert [(c["ref"], c["customer_id"]) for c in report["complaints"]] == [
                ("C-1001", report["customers"][0]["customer_id"])
            ]
            assert [n["kind"] for n in report["notices"]] == ["opened", "resolved"]
            again = await api.post(f"/api/incidents/{incident['id']}/updates", json={"text": "more"})
            assert again.status_code == 409
            assert (await api.post("/api/incidents", json={**INCIDENT, "audience": {}})).status_code == 422
            assert (await api.get("/api/incidents/999")).status_code == 404
            assert (await httpx.AsyncClient(base_url=base).get("/api/incidents")).status_code == 401
