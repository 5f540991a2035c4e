"""The workspaces' API: a unit doctor (an account bound to a unit) files cases and emergencies
for their own unit only, sees only their unit's cases and records, and gets only the unit's
own join links; an expert sees their own cases and links, asks for leave, a coordinator
approves it and it lands on the roster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflow.helpers import MON, TUE, WorkflowServer, case_body, cst
from tests.workflow.test_paging import account, duty, login, wf  # noqa: F401 (fixtures)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
async def two_units(duty: WorkflowServer, settings: Any) -> WorkflowServer:  # noqa: F811
    await duty.unit("vil-2")
    await account(settings, "other.doctor", "doctor", unit_id="vil-2")
    await duty.roster("zhou", (MON, "08:00", "18:00"), (TUE, "08:00", "18:00"))
    return duty


async def test_unit_doctor_sees_and_files_for_their_own_unit_only(
    two_units: WorkflowServer,
) -> None:
    srv = two_units
    mine, other = await login(srv, "vil.doctor"), await login(srv, "other.doctor")
    # filing: own unit yes, another unit no (nothing is created)
    case = await srv.ok("POST", "/api/v1/cases", case_body("vil-1"), status=201, token=mine)
    err = await srv.ok("POST", "/api/v1/cases", case_body("vil-2"), status=403, token=mine)
    assert err["error"]["code"] == "other_unit"
    err = await srv.ok("POST", "/api/v1/emergencies", case_body("vil-2"), status=403, token=mine)
    assert err["error"]["code"] == "other_unit"
    theirs = await srv.ok("POST", "/api/v1/cases", case_body("vil-2"), status=201, token=other)
    assert len((await srv.ok("GET", "/api/v1/cases"))["cases"]) == 2
    # listing: only the unit's, whatever the query asks
    listed = await srv.ok("GET", "/api/v1/cases", token=mine)
    assert [c["id"] for c in listed["cases"]] == [case["id"]]
    err = await srv.ok("GET", "/api/v1/cases?unit=vil-2", status=403, token=mine)
    assert err["error"]["code"] == "other_unit"
    # reading: own case with its trail; the other unit's is refused
    got = await srv.ok("GET", f"/api/v1/cases/{case['id']}", token=mine)
    assert got["audit"][0]["action"] == "created"
    err = await srv.ok("GET", f"/api/v1/cases/{theirs['id']}", status=403, token=mine)
    assert err["error"]["code"] == "not_your_case"
    # records: upload to its own case, never to (or from) another unit's
    path = f"/api/v1/cases/{case['id']}/attachments"
    up = await srv.api(
        "POST",
        path,
        token=mine,
        params={"filename": "ecg.pdf"},
        data=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert up[0] == 201, up
    status, _ = await srv.api(
        "POST",
        f"/api/v1/cases/{theirs['id']}/attachments",
        token=mine,
        params={"filename": "x.pdf"},
        data=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert status == 403
    assert (await srv.api("GET", f"/api/v1/cases/{theirs['id']}/attachments", token=mine))[0] == 403
    listed = await srv.ok("GET", path, token=mine)
    assert [a["filename"] for a in listed["attachments"]] == ["ecg.pdf"]
    # the workspace lists the unit's cases only
    ws = await srv.ok("GET", "/api/v1/workspace", token=mine)
    assert ws["kind"] == "unit" and ws["unit"]["id"] == "vil-1" and ws["expert"] is None
    cases = await srv.ok("GET", "/api/v1/workspace/cases", token=mine)
    assert [c["case"]["id"] for c in cases["cases"]] == [case["id"]]
    # coordinator endpoints stay closed to a unit doctor
    assert (await srv.api("GET", "/api/v1/units", token=mine))[0] == 403
    assert (await srv.api("GET", "/api/v1/paging", token=mine))[0] == 403
    # a doctor token that is no unit account (minted by hand) files nothing
    loose = srv.mint("dr-x", "doctor")
    assert (await srv.api("POST", "/api/v1/cases", case_body("vil-1"), token=loose))[0] == 403
    assert (await srv.api("GET", "/api/v1/cases", token=loose))[0] == 403


async def test_join_links_are_the_callers_own_seat(two_units: WorkflowServer) -> None:
    srv = two_units
    mine, other = await login(srv, "vil.doctor"), await login(srv, "other.doctor")
    zhou, wang = await login(srv, "zhou"), await login(srv, "wang")
    case = await srv.ok("POST", "/api/v1/cases", case_body("vil-1"), status=201, token=mine)
    booked = await srv.book(case["id"], expert_id="zhou", start=cst(10, 10).isoformat())
    assert booked["booking"]["expert_id"] == "zhou"
    path = f"/api/v1/workspace/cases/{case['id']}/join"
    unit_links = await srv.ok("POST", path, token=mine)
    assert {link["kind"] for link in unit_links["links"]} == {"patient", "referrer"}
    expert_links = await srv.ok("POST", path, token=zhou)
    assert [link["identity"] for link in expert_links["links"]] == ["zhou"]
    for token in (other, wang):
        err = await srv.ok("POST", path, status=403, token=token)
        assert err["error"]["code"] == "not_your_case"
    # the expert's workspace: their case with its unit and booking window
    cases = await srv.ok("GET", "/api/v1/workspace/cases", token=zhou)
    [item] = cases["cases"]
    assert item["unit"]["id"] == "vil-1" and item["booking"]["expert_id"] == "zhou"
    assert item["room"]["opens_at"] < item["booking"]["start"]
    assert (await srv.ok("GET", "/api/v1/workspace/cases", token=wang))["cases"] == []
    # the unit's row names whom the patient will see, by display name and specialty
    [unit_item] = (await srv.ok("GET", "/api/v1/workspace/cases", token=mine))["cases"]
    assert [(e["id"], e["specialties"]) for e in unit_item["experts"]] == [("zhou", ["cardiology"])]
    assert unit_item["experts"][0]["name"] not in ("", "zhou")
    # an emergency: the unit's screen link comes back while the room is open
    got = await srv.ok("POST", "/api/v1/emergencies", case_body("vil-1"), status=201, token=mine)
    links = await srv.ok("POST", f"/api/v1/workspace/cases/{got['case']['id']}/join", token=mine)
    [link] = links["links"]
    assert link["identity"] == "unit-vil-1" and link["role"] == "doctor"
    assert srv.verify(link["token"]).room == got["room"]["id"]


async def test_leave_request_approved_lands_on_the_roster(two_units: WorkflowServer) -> None:
    srv = two_units
    zhou = await login(srv, "zhou")
    body = {"start": cst(16, 8).isoformat(), "end": cst(17, 18).isoformat(), "reason": "course"}
    made = await srv.ok("POST", "/api/v1/workspace/leave-requests", body, status=201, token=zhou)
    assert made["status"] == "pending"
    bad = {**body, "end": body["start"]}
    await srv.ok("POST", "/api/v1/workspace/leave-requests", bad, status=400, token=zhou)
    assert (await srv.api("POST", "/api/v1/workspace/leave-requests", body))[0] == 403
    pending = await srv.ok("GET", "/api/v1/leave-requests?status=pending")
    assert [r["id"] for r in pending["leave_requests"]] == [made["id"]]
    assert (await srv.api("GET", "/api/v1/leave-requests", token=zhou))[0] == 403
    done = await srv.ok("POST", f"/api/v1/leave-requests/{made['id']}/approve", {"note": "ok"})
    assert done["status"] == "approved" and done["decided_by"] == "coordinator"
    err = await srv.ok("POST", f"/api/v1/leave-requests/{made['id']}/decline", {}, status=409)
    assert err["error"]["code"] == "decided"
    mine = await srv.ok("GET", "/api/v1/workspace/roster", token=zhou)
    assert mine["roster"]["leave"][0]["reason"] == "course"
    assert [r["status"] for r in mine["leave_requests"]] == ["approved"]
    # on leave: an explicit booking in that time is refused as it is for any leave
    case = await srv.case("vil-1")
    await srv.book(case["id"], status=409, expert_id="zhou", start=cst(16, 10).isoformat())
