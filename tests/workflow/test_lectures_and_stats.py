"""Lectures (the presenter publishes, audience units only watch), statistics, and the
workflow's part of the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

from tests.workflow.helpers import MON, WorkflowServer, cst
from web.workflow_keys import SCHEDULER


async def test_lecture_presenter_publishes_audience_watches(wf: WorkflowServer, clients) -> None:
    for unit in ("cty-1", "vil-1", "vil-2"):
        await wf.unit(unit)
    await wf.expert("wang")
    body = {
        "title": "ECG for village doctors",
        "presenter_id": "wang",
        "audience_unit_ids": ["cty-1", "vil-1", "vil-2"],
        "start": cst(10, 19).isoformat(),
        "end": cst(10, 20).isoformat(),
    }
    lecture = await wf.ok("POST", "/api/v1/lectures", body, status=201)
    assert lecture["room"]["state"] == "scheduled"
    # the presenter's time is booked: a second lecture at the same time is refused
    err = await wf.ok("POST", "/api/v1/lectures", {**body, "title": "Other"}, status=409)
    assert err["error"]["code"] == "double_booking"
    err = await wf.ok(
        "POST", "/api/v1/lectures", {**body, "audience_unit_ids": ["nowhere"]}, status=400
    )
    assert err["error"]["code"] == "unknown_unit"

    links = (await wf.ok("GET", f"/api/v1/lectures/{lecture['id']}/links"))["links"]
    roles = {link["identity"]: link["role"] for link in links}
    assert roles == {
        "wang": "expert",
        "unit-cty-1": "observer",
        "unit-vil-1": "observer",
        "unit-vil-2": "observer",
    }
    wf.clock.current = cst(10, 18, 50)  # the links are valid from the room's opening
    for link in links:
        grants = wf.verify(link["token"]).grants
        assert grants.publish is (link["role"] == "expert") and grants.subscribe
    assert (await wf.app[SCHEDULER].tick()).opened == [lecture["room"]["room_id"]]
    viewer = clients()
    await viewer.connect(wf.url, next(x["token"] for x in links if x["role"] == "observer"))
    await viewer.request("join")
    answer = await viewer.request("publish.offer", {"sdp": "v=0\r\n", "type": "offer"})
    assert answer["error"]["code"] == "permission_denied"  # watching only
    assert [lec["id"] for lec in (await wf.ok("GET", "/api/v1/lectures"))["lectures"]] == [
        lecture["id"]
    ]


async def test_a_lecture_starting_in_the_past_is_refused_with_its_reason(
    wf: WorkflowServer,
) -> None:
    """The dashboard refuses a past start before sending it; the API refuses it too (another
    client, a clock that differs), with the code the page turns into its sentence."""
    await wf.unit("vil-1")
    await wf.expert("wang")
    wf.clock.current = cst(10, 19, 1)
    body = {
        "title": "ECG for village doctors",
        "presenter_id": "wang",
        "audience_unit_ids": ["vil-1"],
        "start": cst(10, 19).isoformat(),
        "end": cst(10, 20).isoformat(),
    }
    err = await wf.ok("POST", "/api/v1/lectures", body, status=400)
    assert err["error"]["code"] == "slot_in_past"
    assert "past" in err["error"]["message"]
    assert (await wf.ok("GET", "/api/v1/lectures"))["lectures"] == []
    # a minute later is booked
    later = {**body, "start": cst(10, 19, 2).isoformat()}
    assert (await wf.ok("POST", "/api/v1/lectures", later, status=201))["title"] == body["title"]


async def test_statistics_per_unit_and_month(wf: WorkflowServer) -> None:
    await wf.unit("vil-1")
    await wf.unit("cty-1", tier="county")
    await wf.expert("wang")
    await wf.expert("smith", languages=("en",), time_zone="America/New_York", international=True)
    await wf.ok(
        "PUT",
        "/api/v1/rota/cardiology",
        {"slots": [{"expert_id": "smith", "weekday": MON, "start": "08:00", "end": "20:00"}]},
    )
    emergency = await wf.ok(
        "POST",
        "/api/v1/emergencies",
        {
            "patient": {"name": "Li Si", "sex": "male", "age_years": 35},
            "referring_unit_id": "vil-1",
            "referring_doctor": "Dr Zhao",
            "specialty": "cardiology",
            "clinical_summary": "acute MI",
        },
        status=201,
    )
    await wf.ok(
        "POST",
        f"/api/v1/cases/{emergency['case']['id']}/report",
        {
            "diagnosis": "STEMI",
            "treatment_plan": "PCI",
            "referral": {
                "target_hospital": "City Hospital",
                "department": "Cardiology",
                "priority": "emergency",
                "green_channel": True,
            },
        },
        token=wf.mint("smith", "expert"),
    )
    await wf.case(unit="vil-1")
    wf.clock.advance(days=30)  # April
    await wf.case(unit="cty-1")

    stats = await wf.ok("GET", "/api/v1/stats?period=month")
    assert stats["overall"]["total"] == 3
    assert stats["overall"]["international"] == 1 and stats["overall"]["green_channel"] == 1
    # the other two (requested, no expert yet) still count: domestic
    assert stats["overall"]["domestic"] == 2
    assert {k: v["total"] for k, v in stats["by_specialty"].items()} == {"cardiology": 3}
    assert {k: v["total"] for k, v in stats["by_period"].items()} == {"2026-03": 2, "2026-04": 1}
    assert {k: v["total"] for k, v in stats["by_unit"].items()} == {"vil-1": 2, "cty-1": 1}
    unit = await wf.ok("GET", "/api/v1/stats?period=month&unit=vil-1")
    assert unit["overall"]["total"] == 2
    assert unit["overall"]["by_urgency"] == {"emergency": 1, "routine": 1}
    since = (cst(9, 9) + timedelta(days=20)).isoformat().replace("+", "%2B")
    assert (await wf.ok("GET", f"/api/v1/stats?since={since}"))["overall"]["total"] == 1
    err = await wf.ok("GET", "/api/v1/stats?period=decade", status=400)
    assert "period" in err["error"]["message"]


async def test_openapi_documents_the_workflow(wf: WorkflowServer) -> None:
    doc = await wf.ok("GET", "/api/v1/openapi.json", token="")
    for path in (
        "/api/v1/cases",
        "/api/v1/cases/{case_id}/booking",
        "/api/v1/emergencies",
        "/api/v1/cases/{case_id}/report",
        "/api/v1/bookings/{booking_id}/links",
        "/api/v1/lectures",
        "/api/v1/stats",
        "/api/v1/experts/{expert_id}/roster",
        "/api/v1/rota/{specialty}",
        "/api/v1/units",
    ):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    assert {"CaseBody", "BookingBody", "ReportBody", "EmergencyBody", "LectureBody"} <= set(schemas)
    assert "scheduled" in schemas["RoomStatus"]["enum"]  # booked rooms exist before they open
    assert doc["paths"]["/api/v1/cases"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/CaseBody"}
