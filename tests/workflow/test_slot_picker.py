"""The coordinator's tools over REST: the slot picker inside a unit's consult hours, a panel of
experts with a booked interpreter (all or none, race-free), rescheduling and cancelling with the
parties told, and every instant of the API in UTC."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.workflow.helpers import MON, TUE, WED, WorkflowServer, cst, when
from tests.workflow.test_paging import account, login

NEW_YORK = ZoneInfo("America/New_York")
# a village clinic open 08:00-17:30 on weekdays, Beijing time
WEEKDAYS_8_TO_1730 = [{"weekday": d, "start": "08:00", "end": "17:30"} for d in range(5)]


@pytest.fixture
async def clinic(wf: WorkflowServer) -> WorkflowServer:
    await wf.unit("vil-1", consult_hours=WEEKDAYS_8_TO_1730)
    # a New York cardiologist on a morning shift: 09:00-12:00 New York (EDT since 8 March,
    # UTC-4) = 21:00-24:00 Beijing
    await wf.expert(
        "smith", languages=("en", "zh"), time_zone="America/New_York", international=True
    )
    await wf.roster("smith", *[(d, "09:00", "12:00") for d in range(5)])
    # and one who works New York's Monday night: Tuesday 09:00-12:00 Beijing
    await wf.expert("jones", languages=("en",), time_zone="America/New_York", international=True)
    await wf.roster("jones", (MON, "21:00", "00:00"))
    await wf.expert("wang")
    await wf.roster("wang", (TUE, "08:00", "12:00"), (WED, "14:00", "16:00"))
    await wf.expert("chen", specialties=("interpretation",), languages=("zh", "en"))
    await wf.roster("chen", (TUE, "09:00", "12:00"))
    return wf


async def test_consult_hours_keep_a_new_york_morning_off_a_village_evening(clinic) -> None:
    unit = await clinic.ok("GET", "/api/v1/units/vil-1")
    assert unit["consult_hours"][0] == {"weekday": 0, "start": "08:00", "end": "17:30"}
    case = await clinic.case(requested_expert_id="smith")
    # smith's every shift is 21:00-24:00 in the village: no slot inside its hours
    picker = await clinic.ok("GET", f"/api/v1/cases/{case['id']}/slots?experts=smith")
    assert picker["slots"] == []
    err = await clinic.book(case["id"], 404)
    assert err["error"]["code"] == "no_slot"
    # an explicit 21:00 Beijing choice is refused and says why
    err = await clinic.book(
        case["id"],
        409,
        expert_id="smith",
        start=datetime(2026, 3, 10, 9, tzinfo=NEW_YORK).isoformat(),
    )
    assert err["error"]["code"] == "outside_consult_hours"
    # without consult hours the same search books 21:00 Beijing (what the issue saw happen)
    await clinic.unit("vil-2")
    other = await clinic.case(unit="vil-2", requested_expert_id="smith")
    booked = await clinic.book(other["id"])
    assert when(booked["booking"]["start"]).astimezone(cst(9, 0).tzinfo).hour == 21


async def test_slot_picker_lists_fitting_experts_and_their_slots_in_utc(clinic) -> None:
    case = await clinic.case()
    picker = await clinic.ok("GET", f"/api/v1/cases/{case['id']}/slots?days=3")
    assert {e["id"] for e in picker["experts"]} == {"smith", "jones", "wang"}
    assert [i["id"] for i in picker["interpreters"]] == ["chen"]
    assert picker["centre_time_zone"] == "Asia/Shanghai"
    assert picker["unit"]["time_zone"] == "Asia/Shanghai" and picker["slot_minutes"] == 30
    starts = [(when(s["start"]), s["expert_ids"]) for s in picker["slots"]]
    assert starts == sorted(starts, key=lambda x: (x[0], x[1]))
    # Tuesday 08:00 Beijing is wang's first; jones from 09:00; smith never (village evening)
    assert starts[0] == (cst(10, 8), ["wang"])
    assert (cst(10, 9), ["jones"]) in starts
    assert not any(ids == ["smith"] for _, ids in starts)
    for s in picker["slots"]:
        assert s["start"].endswith("+00:00") and s["end"].endswith("+00:00")
        local = when(s["start"]).astimezone(cst(9, 0).tzinfo)
        assert 8 <= local.hour and when(s["end"]).astimezone(cst(9, 0).tzinfo).hour <= 17


async def test_panel_with_interpreter_is_booked_together_in_one_room(clinic) -> None:
    case = await clinic.case(requested_language="zh", interpreter_needed=True)
    picker = await clinic.ok(
        "GET", f"/api/v1/cases/{case['id']}/slots?experts=wang,jones&interpreter=chen"
    )
    # all three free and inside the unit's hours: Tuesday 09:00-12:00 Beijing
    slots = [(when(s["start"]), when(s["end"])) for s in picker["slots"]]
    assert slots[0] == (cst(10, 9), cst(10, 9, 30)) and slots[-1] == (cst(10, 11, 30), cst(10, 12))
    assert all(s["expert_ids"] == ["wang", "jones"] for s in picker["slots"])
    assert all(s["interpreter_id"] == "chen" for s in picker["slots"])

    booked = await clinic.book(
        case["id"],
        expert_id="wang",
        panel=["jones"],
        interpreter_id="chen",
        start=picker["slots"][0]["start"],
    )
    lead = booked["booking"]
    parties = {(p["kind"], p["identity"]) for p in lead["room"]["parties"]}
    assert {("expert", "wang"), ("expert", "jones"), ("interpreter", "chen")} <= parties
    got = await clinic.ok("GET", f"/api/v1/cases/{case['id']}")
    assert got["status"] == "scheduled" and got["expert_ids"] == ["wang", "jones"]
    assert len(got["booking_ids"]) == 3
    # each member's booking shows the same room; each party sees it at its own instant
    rooms = set()
    for bid in got["booking_ids"]:
        b = await clinic.ok("GET", f"/api/v1/bookings/{bid}")
        rooms.add(b["room"]["room_id"])
        assert b["panel_id"] == lead["id"] and when(b["start"]) == cst(10, 9)
    assert rooms == {lead["room"]["room_id"]}
    jones = await clinic.ok("GET", "/api/v1/bookings?expert=jones")
    assert [when(b["start"]).astimezone(NEW_YORK).hour for b in jones["bookings"]] == [21]
    links = await clinic.ok("GET", f"/api/v1/bookings/{lead['id']}/links")
    assert {"wang", "jones", "chen"} <= {link["identity"] for link in links["links"]}
    assert len(clinic.seen("booking.created")) == 3
    # the panel's slot is now taken for each member
    again = await clinic.case()
    err = await clinic.book(again["id"], 409, expert_id="jones", start=picker["slots"][0]["start"])
    assert err["error"]["code"] == "double_booking"


async def test_interpreter_workspace_lists_the_booking_with_their_own_seat(
    clinic: WorkflowServer, settings: Any
) -> None:
    case = await clinic.case(requested_language="zh", interpreter_needed=True)
    booked = await clinic.book(
        case["id"], expert_id="wang", interpreter_id="chen", start=cst(10, 9).isoformat()
    )
    # the interpreter signs in with an expert-kind account named by its directory id
    await account(settings, "chen", "expert")
    await account(settings, "smith", "expert")
    chen, smith = await login(clinic, "chen"), await login(clinic, "smith")
    mine = await clinic.ok("GET", "/api/v1/workspace/cases", token=chen)
    assert [(c["case"]["id"], c["interpreting"]) for c in mine["cases"]] == [(case["id"], True)]
    item = mine["cases"][0]
    assert when(item["booking"]["start"]) == cst(10, 9)
    assert item["room"]["room_id"] == booked["booking"]["room"]["room_id"]
    # the expert's own list marks nothing as interpreted
    wang = await clinic.ok("GET", "/api/v1/workspace/cases", token=await login_as(clinic, settings))
    assert [c["interpreting"] for c in wang["cases"]] == [False]
    links = await clinic.ok("POST", f"/api/v1/workspace/cases/{case['id']}/join", token=chen)
    assert [(x["identity"], x["role"]) for x in links["links"]] == [("chen", "interpreter")]
    # another expert of the directory gets nothing of it
    assert (await clinic.ok("GET", "/api/v1/workspace/cases", token=smith))["cases"] == []
    err = await clinic.ok(
        "POST", f"/api/v1/workspace/cases/{case['id']}/join", status=403, token=smith
    )
    assert err["error"]["code"] == "not_your_case"
    # once the case is cancelled the interpreter's booking is gone from the list, and no seat
    await clinic.ok("POST", f"/api/v1/cases/{case['id']}/cancel", {"reason": "patient recovered"})
    assert (await clinic.ok("GET", "/api/v1/workspace/cases", token=chen))["cases"] == []
    err = await clinic.ok(
        "POST", f"/api/v1/workspace/cases/{case['id']}/join", status=403, token=chen
    )
    assert err["error"]["code"] == "not_your_case"


async def login_as(clinic: WorkflowServer, settings: Any, username: str = "wang") -> str:
    await account(settings, username, "expert")
    return await login(clinic, username)


async def test_panel_is_all_or_none_when_racing(clinic) -> None:
    a, b = await clinic.case(), await clinic.case()
    start = cst(10, 10).isoformat()
    results = await asyncio.gather(
        clinic.api(
            "POST",
            f"/api/v1/cases/{a['id']}/booking",
            {"expert_id": "wang", "panel": ["jones"], "start": start},
        ),
        clinic.api(
            "POST", f"/api/v1/cases/{b['id']}/booking", {"expert_id": "jones", "start": start}
        ),
    )
    assert sorted(status for status, _ in results) == [201, 409]
    active = (await clinic.ok("GET", "/api/v1/bookings?since=2026-03-10T00:00:00%2B08:00"))[
        "bookings"
    ]
    # one winner; no half panel is left behind
    assert len([x for x in active if x["cancelled_at"] is None]) in (1, 2)
    by_case: dict[str, int] = {}
    for x in active:
        by_case[x["case_id"]] = by_case.get(x["case_id"], 0) + 1
    assert sorted(by_case.values()) in ([1], [2])


async def test_bad_panels_are_refused(clinic) -> None:
    case = await clinic.case()
    start = cst(10, 10).isoformat()
    for body, code in [
        ({"expert_id": "wang", "panel": ["wang"], "start": start}, "panel_repeats"),
        ({"expert_id": "wang", "panel": ["chen"], "start": start}, "specialty_mismatch"),
        ({"expert_id": "wang", "interpreter_id": "jones", "start": start}, "not_an_interpreter"),
    ]:
        err = await clinic.book(case["id"], 400, **body)
        assert err["error"]["code"] == code, body
    status, err = await clinic.api("POST", f"/api/v1/cases/{case['id']}/booking", {"panel": ["x"]})
    assert status == 400 and err["error"]["code"] == "invalid_payload"
    status, err = await clinic.api(
        "POST", "/api/v1/cases", {**_case_body(), "specialty": "interpretation"}
    )
    assert status == 400 and err["error"]["code"] == "not_clinical"
    assert (await clinic.ok("GET", f"/api/v1/cases/{case['id']}"))["status"] == "requested"


def _case_body() -> dict[str, Any]:
    from tests.workflow.helpers import case_body

    return case_body()


async def test_reschedule_and_cancel_tell_the_parties(clinic) -> None:
    case = await clinic.case()
    first = await clinic.book(case["id"], expert_id="wang", start=cst(10, 8).isoformat())
    old_id = first["booking"]["id"]
    # a refused new slot leaves the booking as it was
    status, err = await clinic.api(
        "POST",
        f"/api/v1/cases/{case['id']}/reschedule",
        {"expert_id": "wang", "start": cst(10, 20).isoformat(), "reason": "patient asked"},
    )
    assert status == 409 and err["error"]["code"] == "outside_consult_hours"
    got = await clinic.ok("GET", f"/api/v1/cases/{case['id']}")
    assert got["status"] == "scheduled" and got["booking_ids"] == [old_id]
    # to an overlapping later slot of the same expert: allowed (the old one is freed first)
    moved = await clinic.ok(
        "POST",
        f"/api/v1/cases/{case['id']}/reschedule",
        {
            "expert_id": "wang",
            "start": cst(10, 8, 0).replace(minute=0, hour=9).isoformat(),
            "panel": ["jones"],
            "reason": "patient asked",
        },
    )
    assert when(moved["booking"]["start"]) == cst(10, 9)
    old = await clinic.ok("GET", f"/api/v1/bookings/{old_id}")
    assert old["cancelled_at"] is not None and old["room"]["state"] == "closed"
    [event] = clinic.seen("booking.rescheduled")
    assert event["case_id"] == case["id"] and event["reason"] == "patient asked"
    assert (
        event["old"][0]["booking_id"] == old_id
        and event["new"]["start"] == cst(10, 9).astimezone(ZoneInfo("UTC")).isoformat()
    )
    assert {p["identity"] for p in event["new"]["parties"]} >= {"wang", "jones"}
    assert clinic.seen("booking.cancelled") == []  # a move is told once, as a move
    # cancelling the case tells every booked party
    await clinic.ok("POST", f"/api/v1/cases/{case['id']}/cancel", {"reason": "recovered"})
    cancelled = clinic.seen("booking.cancelled")
    assert {c["expert_id"] for c in cancelled} == {"wang", "jones"}
    assert all(c["reason"] == "recovered" and c["room_id"] for c in cancelled)
    listed = await clinic.ok("GET", "/api/v1/bookings?expert=jones")
    assert all(b["cancelled_at"] for b in listed["bookings"])


ISO_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)$")


def _instants(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [i for k, v in value.items() for i in _instants(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [i for n, v in enumerate(value) for i in _instants(v, f"{path}[{n}]")]
    if isinstance(value, str) and ISO_INSTANT.match(value):
        return [(path, value)]
    return []


async def test_every_instant_the_api_returns_is_utc(clinic) -> None:
    """sla_deadline came back in +08:00 (local midnight in the centre's zone); now every
    instant of every answer of the workflow is in UTC, whatever zone it was given in."""
    await clinic.roster(
        "wang",
        (TUE, "08:00", "12:00"),
        (WED, "14:00", "16:00"),
        leave=[{"start": "2026-03-20T09:00:00+08:00", "end": "2026-03-21T09:00:00+08:00"}],
    )
    case = await clinic.case()
    booked = await clinic.book(case["id"], expert_id="wang", start=cst(11, 14).isoformat())
    lecture = await clinic.ok(
        "POST",
        "/api/v1/lectures",
        {
            "title": "ECG basics",
            "presenter_id": "wang",
            "audience_unit_ids": ["vil-1"],
            "start": "2026-03-11T15:00:00+08:00",
            "end": "2026-03-11T16:00:00+08:00",
        },
        status=201,
    )
    emergency_unit = await clinic.unit("cty-1", tier="city")
    bid = booked["booking"]["id"]
    answers = [
        booked,
        emergency_unit,
        lecture,
        await clinic.ok("GET", f"/api/v1/cases/{case['id']}"),
        await clinic.ok("GET", "/api/v1/cases"),
        await clinic.ok("GET", f"/api/v1/bookings/{bid}"),
        await clinic.ok("GET", "/api/v1/bookings"),
        await clinic.ok("GET", f"/api/v1/bookings/{bid}/links"),
        await clinic.ok("GET", "/api/v1/experts/wang/roster"),
        await clinic.ok("GET", f"/api/v1/cases/{case['id']}/slots"),
        await clinic.ok("GET", f"/api/v1/lectures/{lecture['id']}"),
        await clinic.ok("GET", "/api/v1/lectures"),
        await clinic.ok("GET", f"/api/v1/rooms/{booked['booking']['room']['room_id']}"),
    ]
    found = [i for a in answers for i in _instants(a)]
    assert len(found) > 30
    assert [(p, v) for p, v in found if not v.endswith("+00:00")] == []
    assert booked["booking"]["sla_deadline"] == "2026-03-12T16:00:00+00:00"
    assert (await clinic.ok("GET", f"/api/v1/cases/{case['id']}"))["sla_deadline"] == (
        "2026-03-12T16:00:00+00:00"
    )


_ = WED
