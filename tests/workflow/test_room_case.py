"""The case panel of the room (issue 10): a participant of the case's room reads the case
summary with its room token, every read lands on the case's access log, and nobody else
(another case's token, a removed participant's revoked link) reads it."""

from __future__ import annotations

from tests.workflow.helpers import WED, WorkflowServer, cst


async def test_room_participants_read_the_case_summary_and_each_read_is_audited(
    wf: WorkflowServer,
) -> None:
    await wf.unit("vil-1")
    await wf.expert("wang")
    await wf.roster("wang", (WED, "14:00", "16:00"))
    case = await wf.case(
        patient={
            "name": "Zhang San",
            "sex": "male",
            "age_years": 35,
            "id_number": "11010519491231002X",
        }
    )
    other = await wf.case()
    booking = (await wf.book(case["id"]))["booking"]
    links = (await wf.ok("GET", f"/api/v1/bookings/{booking['id']}/links"))["links"]
    wf.clock.current = cst(11, 13, 55)  # the room's window is open
    by_role = {link["role"]: link["token"] for link in links}
    path = f"/api/v1/cases/{case['id']}/summary"

    summary = await wf.ok("GET", path, token=by_role["patient"])
    assert summary["id"] == case["id"]
    assert summary["clinical_summary"] == "chest pain for two weeks"
    assert summary["patient"]["name"] == "Zhang San"
    assert summary["patient"]["id_number"] is None  # the room does not need it
    assert "audit" not in summary
    await wf.ok("GET", path, token=by_role["expert"])

    status, body = await wf.api(
        "GET", f"/api/v1/cases/{other['id']}/summary", token=by_role["patient"]
    )
    assert (status, body["error"]["code"]) == (403, "wrong_case")
    status, body = await wf.api("GET", "/api/v1/cases/case-none/summary")
    assert status == 404

    audit = (await wf.ok("GET", f"/api/v1/cases/{case['id']}"))["audit"]
    views = [(e["actor"], e["role"]) for e in audit if e["action"] == "case.view"]
    assert sorted(r for _, r in views) == ["expert", "patient"]
