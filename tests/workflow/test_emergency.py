"""The emergency path: request -> open room with tokens for the unit and the on-duty expert,
well under 5 s; then the report with a green-channel referral completes the case."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.workflow.helpers import MON, WorkflowServer, case_body
from vidconsult.domain.roles import Role
from vidconsult.workflow_app import SCHEDULER

LIMIT_S = 5.0


@pytest.fixture
async def on_duty(wf: WorkflowServer) -> WorkflowServer:
    await wf.unit("vil-1")
    for expert in ("wang", "zhou", "li"):
        await wf.expert(expert)
    # the rota says zhou is the cardiology duty expert on Mondays (it is Monday 09:00)
    await wf.ok(
        "PUT",
        "/api/v1/rota/cardiology",
        {"slots": [{"expert_id": "zhou", "weekday": MON, "start": "08:00", "end": "20:00"}]},
    )
    await wf.roster("wang", (MON, "08:00", "12:00"))  # on shift, but not on duty
    return wf


async def emergency(wf: WorkflowServer, status: int = 201, **kw) -> dict:
    body = case_body(**kw)
    return await wf.ok("POST", "/api/v1/emergencies", body, status=status)


async def test_emergency_opens_a_room_with_the_on_duty_expert_at_once(on_duty, clients) -> None:
    started = time.perf_counter()
    got = await emergency(on_duty)
    elapsed = time.perf_counter() - started
    assert elapsed < LIMIT_S, elapsed
    assert got["elapsed_ms"] < LIMIT_S * 1000
    room, case = got["room"], got["case"]
    assert room["status"] == "open" and room["kind"] == "emergency"
    assert room["case_id"] == case["id"]
    assert case["urgency"] == "emergency" and case["status"] == "in_progress"
    assert case["expert_ids"] == ["zhou"] and got["expert"]["source"] == "rota"
    links = {link["kind"]: link for link in got["links"]}
    assert set(links) == {"unit", "expert"}
    for kind, identity, role in (("unit", "unit-vil-1", "doctor"), ("expert", "zhou", "expert")):
        claims = on_duty.verify(links[kind]["token"])
        assert (claims.room, claims.identity, claims.role.value, claims.case) == (
            room["id"],
            identity,
            role,
            case["id"],
        )
        assert links[kind]["join_url"].endswith(f"/room/{room['id']}#token={links[kind]['token']}")
    # the room is really open: both join over Socket.IO
    for kind in ("unit", "expert"):
        c = clients()
        await c.connect(on_duty.url, links[kind]["token"])
        joined = await c.request("join")
        assert joined["room"]["id"] == room["id"], joined
    live = await on_duty.ok("GET", f"/api/v1/rooms/{room['id']}")
    assert {p["identity"] for p in live["participants"]} == {"unit-vil-1", "zhou"}
    # the pager / webhooks hear of it
    [event] = on_duty.seen("emergency.requested")
    assert (event["case_id"], event["room_id"], event["expert_id"]) == (
        case["id"],
        room["id"],
        "zhou",
    )
    print(
        f"emergency request -> open room: {elapsed * 1000:.1f} ms (client), "
        f"{got['elapsed_ms']} ms (server)"
    )


async def test_rota_override_and_roster_fallback(on_duty) -> None:
    now = on_duty.clock.now()
    await on_duty.ok(
        "POST",
        "/api/v1/rota/overrides",
        {
            "specialty": "cardiology",
            "expert_id": "li",
            "start": now.isoformat(),
            "end": now.replace(hour=12).isoformat(),
        },
        status=201,
    )
    assert (await emergency(on_duty))["expert"]["id"] == "li"
    # nobody on the neurology rota: anyone of the specialty on shift now is summoned
    await on_duty.expert("ma", specialties=("neurology",))
    await on_duty.roster("ma", (MON, "08:00", "10:00"))
    got = await emergency(on_duty, specialty="neurology")
    assert got["expert"] == {"id": "ma", "source": "roster_fallback", "busy": False}


async def test_nobody_on_duty_is_404_and_the_request_is_kept(on_duty) -> None:
    err = await emergency(on_duty, 404, specialty="nephrology")
    assert err["error"]["code"] == "no_one_on_duty"
    listed = await on_duty.ok("GET", "/api/v1/cases?urgency=emergency")
    [case] = listed["cases"]
    assert case["status"] == "requested" and case["id"] in err["error"]["message"]
    assert on_duty.seen("emergency.unassigned")[0]["case_id"] == case["id"]


async def test_report_with_referral_completes_the_case(on_duty) -> None:
    got = await emergency(on_duty)
    case_id = got["case"]["id"]
    report = {
        "diagnosis": "Acute inferior STEMI",
        "treatment_plan": "Aspirin, transfer for PCI",
        "referral": {
            "target_hospital": "City Hospital",
            "department": "Cardiology",
            "priority": "emergency",
            "green_channel": True,
            "reason": "primary PCI",
        },
    }
    path = f"/api/v1/cases/{case_id}/report"
    # only the case's own expert signs: not another expert, not a coordinator
    err = await on_duty.ok("POST", path, report, status=403, token=on_duty.mint("wang", "expert"))
    assert err["error"]["code"] == "not_booked_expert"
    await on_duty.ok("POST", path, report, status=403)
    bad = {**report, "referral": {**report["referral"], "priority": "routine"}}
    err = await on_duty.ok("POST", path, bad, status=400, token=on_duty.mint("zhou", "expert"))
    assert err["error"]["code"] == "green_channel_routine"
    # the expert's own join token for this room works as well as a room-less expert token
    expert_link = next(link for link in got["links"] if link["kind"] == "expert")
    done = await on_duty.ok("POST", path, report, token=expert_link["token"])
    assert done["status"] == "completed"
    assert done["report"]["signed_by"] == "zhou"
    assert done["referral"]["green_channel"] is True
    assert done["audit"][-1]["to"] == "completed"
    err = await on_duty.ok("POST", path, report, status=409, token=on_duty.mint("zhou", "expert"))
    assert err["error"]["code"] == "illegal_transition"
    referrals = await on_duty.ok("GET", "/api/v1/referrals?green_channel=true")
    assert [r["case_id"] for r in referrals["referrals"]] == [case_id]
    assert on_duty.seen("referral.created")[0]["case_id"] == case_id
    # the case's expert may read it
    read = await on_duty.ok("GET", f"/api/v1/cases/{case_id}", token=on_duty.mint("zhou", "expert"))
    assert read["status"] == "completed"


async def test_the_scheduler_closes_emergency_rooms_left_empty(on_duty, clients) -> None:
    """No booked window: an emptied emergency room closes after emergency_idle_minutes, one
    nobody answered after emergency_unanswered_minutes; a room in use stays open."""

    used = await emergency(on_duty)
    unanswered = await emergency(on_duty)
    link = {x["kind"]: x for x in used["links"]}["unit"]
    c = clients()
    await c.connect(on_duty.url, link["token"])
    await c.request("join")
    # a hidden recorder coming and going is nobody: the room stays "unanswered", not "idle"
    recorder = clients()
    await recorder.connect(
        on_duty.url,
        on_duty.signer.mint(
            identity="rec-1",
            role=Role.RECORDER,
            room=unanswered["room"]["id"],
            now=on_duty.clock.now(),
            ttl=timedelta(hours=1),
        ),
    )
    await recorder.request("join")
    await recorder.request("leave")

    async def tick(minutes: float):
        on_duty.clock.advance(minutes=minutes)
        return await on_duty.app[SCHEDULER].tick()

    assert (await tick(59)).emergencies_closed == []
    # an hour with nobody: the unanswered room closes; the one in use stays, however long
    assert (await tick(1)).emergencies_closed == [unanswered["room"]["id"]]
    assert (await tick(600)).emergencies_closed == []
    ended = c.expect("room.ended")
    await c.request("leave")
    assert (await tick(29)).emergencies_closed == []
    assert (await tick(1)).emergencies_closed == [used["room"]["id"]]
    for got in (used, unanswered):
        room = await on_duty.ok("GET", f"/api/v1/rooms/{got['room']['id']}")
        assert room["status"] == "ended", room
        # the case is not closed with the room: its report completes it
        case = await on_duty.ok("GET", f"/api/v1/cases/{got['case']['id']}")
        assert case["status"] == "in_progress"
    assert not ended.done()  # it had left before; nobody was thrown out
    reasons = {e["room_id"]: e["reason"] for e in on_duty.seen("room.ended")}
    assert reasons == {
        used["room"]["id"]: "emergency_idle",
        unanswered["room"]["id"]: "emergency_unanswered",
    }
