"""Routine cases over REST: booked within 3 working days when a slot exists, flagged when not;
explicit bookings and double booking; release and cancel; bad payloads."""

from __future__ import annotations

import asyncio

import pytest

from tests.workflow.helpers import MON, THU, WED, WorkflowServer, case_body, cst, when


@pytest.fixture
async def seeded(wf: WorkflowServer) -> WorkflowServer:
    await wf.unit("vil-1")
    await wf.expert("wang")
    await wf.roster("wang", (WED, "14:00", "16:00"))
    return wf


async def test_routine_case_is_booked_within_three_working_days(seeded) -> None:
    case = await seeded.case()
    assert case["status"] == "requested"
    booked = await seeded.book(case["id"])
    booking = booked["booking"]
    # earliest slot of the only cardiologist: Wednesday 14:00-14:30, before Thursday ends
    assert when(booking["start"]) == cst(11, 14)
    assert when(booking["end"]) == cst(11, 14, 30)
    assert when(booking["sla_deadline"]) == cst(13, 0)
    assert booking["sla_breach"] is False and booking["expert_id"] == "wang"
    got = await seeded.ok("GET", f"/api/v1/cases/{case['id']}")
    assert got["status"] == "scheduled" and got["sla_breach"] is False
    assert got["booking_ids"] == [booking["id"]] and got["expert_ids"] == ["wang"]
    assert [(a["from"], a["to"]) for a in got["audit"]] == [
        (None, "requested"),
        ("requested", "scheduled"),
    ]
    # the booking's room exists already, scheduled: nobody may join before its window
    room = await seeded.ok("GET", f"/api/v1/rooms/{booking['room']['room_id']}")
    assert room["status"] == "scheduled" and room["case_id"] == case["id"]
    assert when(booking["room"]["opens_at"]) == cst(11, 13, 50)
    assert when(booking["room"]["closes_at"]) == cst(11, 14, 45)
    kinds = {p["kind"]: p for p in booking["room"]["parties"]}
    assert set(kinds) == {"patient", "referrer", "expert"}
    assert kinds["expert"]["identity"] == "wang"


async def test_no_slot_within_the_sla_books_the_earliest_and_flags_it(seeded) -> None:
    await seeded.expert("li", specialties=("neurology",))
    await seeded.roster("li", (MON, "09:00", "10:00"))
    seeded.clock.current = cst(9, 10)  # Monday, after today's shift: next is next Monday
    case = await seeded.case(specialty="neurology")
    booked = await seeded.book(case["id"])
    assert when(booked["booking"]["start"]) == cst(16, 9)
    assert when(booked["booking"]["sla_deadline"]) == cst(13, 0)
    assert booked["booking"]["sla_breach"] is True and booked["case"]["sla_breach"] is True
    assert booked["case"]["status"] == "scheduled"  # booked anyway, flagged for the centre
    # the same request an hour earlier would have met the SLA with today's slot
    seeded.clock.current = cst(9, 9)
    early = await seeded.case(specialty="neurology")
    booked = await seeded.book(early["id"])
    assert when(booked["booking"]["start"]) == cst(9, 9)
    assert booked["booking"]["sla_breach"] is False


async def test_no_fitting_expert(seeded) -> None:
    case = await seeded.case(specialty="rheumatology")
    status, err = await seeded.api("POST", f"/api/v1/cases/{case['id']}/booking", {})
    assert status == 404 and err["error"]["code"] == "no_fitting_expert"
    assert (await seeded.ok("GET", f"/api/v1/cases/{case['id']}"))["status"] == "requested"


async def test_explicit_booking_and_double_booking(seeded) -> None:
    a, b = await seeded.case(), await seeded.case()
    booked = await seeded.book(a["id"], expert_id="wang", start=cst(11, 14).isoformat())
    assert when(booked["booking"]["start"]) == cst(11, 14)
    for start in (cst(11, 14), cst(11, 14, 15)):
        err = await seeded.book(b["id"], 409, expert_id="wang", start=start.isoformat())
        assert err["error"]["code"] == "double_booking"
    err = await seeded.book(b["id"], 409, expert_id="wang", start=cst(11, 17).isoformat())
    assert err["error"]["code"] == "off_roster"
    assert (await seeded.ok("GET", f"/api/v1/cases/{b['id']}"))["status"] == "requested"
    # off the roster when the coordinator says so; the automatic search takes the next slot
    off = await seeded.book(
        b["id"], expert_id="wang", start=cst(11, 17).isoformat(), allow_off_roster=True
    )
    assert off["booking"]["off_roster"] is True
    c = await seeded.case()
    assert when((await seeded.book(c["id"]))["booking"]["start"]) == cst(11, 14, 30)
    # a case is booked once
    err = await seeded.book(c["id"], 409)
    assert err["error"]["code"] == "illegal_transition"


async def test_concurrent_automatic_bookings_never_overlap(seeded) -> None:
    cases = [await seeded.case() for _ in range(6)]
    results = await asyncio.gather(*(seeded.book(c["id"]) for c in cases))
    starts = sorted(when(r["booking"]["start"]) for r in results)
    assert starts == [cst(11, 14, m) for m in (0, 30)] + [cst(11, 15, m) for m in (0, 30)] + [
        cst(18, 14, m) for m in (0, 30)
    ]
    assert [
        r["booking"]["sla_breach"] for r in sorted(results, key=lambda r: r["booking"]["start"])
    ] == [False] * 4 + [True] * 2
    listed = await seeded.ok("GET", "/api/v1/bookings?expert=wang")
    assert len(listed["bookings"]) == 6


async def test_release_frees_the_slot_and_cancel_ends_the_room(seeded) -> None:
    case = await seeded.case()
    first = await seeded.book(case["id"])
    released = await seeded.ok(
        "DELETE", f"/api/v1/cases/{case['id']}/booking", {"reason": "patient asked for another day"}
    )
    assert released["status"] == "requested" and released["booking_ids"] == []
    booking = await seeded.ok("GET", f"/api/v1/bookings/{first['booking']['id']}")
    assert booking["cancelled_at"] is not None and booking["room"]["state"] == "closed"
    room = await seeded.ok("GET", f"/api/v1/rooms/{first['booking']['room']['room_id']}")
    assert room["status"] == "ended"
    again = await seeded.book(case["id"])
    # the same slot, free again
    assert when(again["booking"]["start"]) == when(first["booking"]["start"])

    cancelled = await seeded.ok(
        "POST", f"/api/v1/cases/{case['id']}/cancel", {"reason": "patient recovered"}
    )
    assert cancelled["status"] == "cancelled"
    room = await seeded.ok("GET", f"/api/v1/rooms/{again['booking']['room']['room_id']}")
    assert room["status"] == "ended"
    err = await seeded.ok(
        "POST", f"/api/v1/cases/{case['id']}/cancel", {"reason": "again"}, status=409
    )
    assert err["error"]["code"] == "illegal_transition"
    listed = await seeded.ok("GET", "/api/v1/cases?status=cancelled")
    assert [c["id"] for c in listed["cases"]] == [case["id"]]


async def test_thursday_request_counts_from_friday(wf: WorkflowServer) -> None:
    """The SLA counts working days after the request's date, skipping the weekend."""
    await wf.unit("vil-1")
    await wf.expert("wang")
    await wf.roster("wang", (THU, "09:00", "10:00"))
    wf.clock.current = cst(12, 11)  # Thursday, after this week's shift
    case = await wf.case()
    booked = await wf.book(case["id"])  # next Thursday: Fri, Mon, Tue are the 3 days
    assert when(booked["booking"]["start"]) == cst(19, 9)
    assert when(booked["booking"]["sla_deadline"]) == cst(18, 0)
    assert booked["booking"]["sla_breach"] is True


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/v1/cases", {}, "invalid_payload"),
        # a slug of the right shape that the catalogue does not have
        ("/api/v1/cases", case_body(specialty="astrology"), "unknown_specialty"),
        ("/api/v1/cases", case_body(specialty="astro-logy"), "invalid_payload"),
        ("/api/v1/cases", case_body(unit="nowhere"), "unknown_unit"),
        ("/api/v1/cases", case_body(urgency="emergency"), "use_emergency_endpoint"),
        (
            "/api/v1/cases",
            {**case_body(), "patient": {"name": "X", "sex": "male"}},
            "patient_age_missing",
        ),
        ("/api/v1/cases", {**case_body(), "extra": 1}, "invalid_payload"),
        ("BOOK", {"expert_id": "wang"}, "invalid_payload"),
        ("BOOK", {"expert_id": "wang", "start": "2026-03-11T14:00:00"}, "invalid_payload"),
        ("BOOK", {"expert_id": "wang", "start": "2026-03-01T14:00:00+08:00"}, "slot_in_past"),
        ("/api/v1/units", {"id": "u 1", "name": "x", "tier": "village"}, "invalid_payload"),
        ("/api/v1/units", {"id": "u1", "name": "x", "tier": "hamlet"}, "invalid_payload"),
        (
            "/api/v1/experts",
            {
                "id": "e",
                "name": "x",
                "institution": {"id": "i", "name": "i", "kind": "domestic"},
                "specialties": ["cardiology"],
                "languages": ["zh"],
                "time_zone": "Mars/Olympus",
            },
            "invalid_time_zone",
        ),
        (
            "ROSTER",
            {
                "shifts": [
                    {"weekday": 0, "start": "09:00", "end": "12:00"},
                    {"weekday": 0, "start": "11:00", "end": "13:00"},
                ]
            },
            "overlapping_shifts",
        ),
        (
            "ROSTER",
            {"shifts": [{"weekday": 7, "start": "09:00", "end": "12:00"}]},
            "invalid_payload",
        ),
    ],
)
async def test_bad_payloads_are_400(seeded, path: str, body, code: str) -> None:
    if path == "BOOK":
        path = f"/api/v1/cases/{(await seeded.case())['id']}/booking"
    elif path == "ROSTER":
        path = "/api/v1/experts/wang/roster"
    method = "PUT" if path.endswith("/roster") else "POST"
    status, err = await seeded.api(method, path, body)
    assert status == 400, err
    assert err["error"]["code"] == code, err


async def test_auth_and_not_found(seeded) -> None:
    case = await seeded.case()
    status, err = await seeded.api("POST", "/api/v1/cases", case_body(), token="")
    assert status == 401
    patient = seeded.mint("p", "patient", room="rm_x")
    status, err = await seeded.api("POST", "/api/v1/cases", case_body(), token=patient)
    assert status == 403
    status, err = await seeded.api(
        "GET", f"/api/v1/cases/{case['id']}", token=seeded.mint("wang", "expert")
    )
    assert status == 403  # not (yet) the expert of this case
    status, err = await seeded.api("GET", "/api/v1/cases/case_nope")
    assert status == 404 and err["error"]["code"] == "not_found"
    status, err = await seeded.api("POST", "/api/v1/cases/case_nope/booking", {})
    assert status == 404
    status, err = await seeded.api("GET", "/api/v1/cases?status=lost")
    assert status == 400
    status, err = await seeded.api(
        "POST", "/api/v1/cases", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and err["error"]["code"] == "invalid_json"
