"""The room lifecycle bound to bookings, on a controllable clock: the scheduler opens the room
at start - 10 min, closes it at end + 15 min unless in use, marks no-shows; joining outside the
window is refused at connect; only the lease holder acts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import socketio

from tests.sio import RawClient
from tests.workflow.helpers import WED, WorkflowServer, cst, when
from vidconsult.cluster.ports import PresenceEntry
from vidconsult.services.scheduler import Scheduler
from vidconsult.workflow_app import STORES
from web.keys import LIVE, ROOMS
from web.workflow_keys import BOOKING, CASES, SCHEDULER

WEEK = 7 * 24 * 3600
OPENS, START, END, CLOSES = cst(11, 13, 50), cst(11, 14), cst(11, 14, 30), cst(11, 14, 45)


@pytest.fixture
async def booked(wf: WorkflowServer) -> dict:
    """A cardiology case booked Wednesday 14:00-14:30 (its room: 13:50-14:45)."""
    await wf.unit("vil-1")
    await wf.expert("wang")
    await wf.roster("wang", (WED, "14:00", "16:00"))
    case = await wf.case(interpreter_needed=True, requested_language="en")
    got = await wf.book(case["id"])
    assert when(got["booking"]["start"]) == START
    return {
        "case": case["id"],
        "booking": got["booking"]["id"],
        "room": got["booking"]["room"]["room_id"],
    }


async def tick_at(wf: WorkflowServer, at) -> object:
    wf.clock.current = at
    return await wf.app[SCHEDULER].tick()


async def room_status(wf: WorkflowServer, room_id: str) -> str:
    return (await wf.ok("GET", f"/api/v1/rooms/{room_id}"))["status"]


async def case_status(wf: WorkflowServer, case_id: str) -> str:
    return (await wf.ok("GET", f"/api/v1/cases/{case_id}"))["status"]


async def test_a_room_in_use_on_another_node_is_kept_open(wf, booked) -> None:
    """Several nodes: the scheduler runs on one; someone present in the room on another node
    (the live state's presence) keeps the booked room open past its window."""
    room = booked["room"]
    assert (await tick_at(wf, OPENS)).opened == [room]
    live = wf.app[LIVE]
    entry = PresenceEntry(room, "pt-far", "node-elsewhere", "s-far", "Far", "patient")
    await live.presence.enter(entry)
    report = await tick_at(wf, CLOSES + timedelta(minutes=5))
    assert report.closed == [] and report.kept_open == [room]
    assert await room_status(wf, room) == "open"
    assert await live.presence.exit(room, "pt-far", "s-far")
    report = await tick_at(wf, CLOSES + timedelta(minutes=6))
    assert report.closed == [room]
    assert await room_status(wf, room) == "ended"


async def test_opens_marks_no_show_and_closes_on_time(wf, booked) -> None:
    room = booked["room"]
    assert (await tick_at(wf, cst(9, 10))).opened == []
    assert (await tick_at(wf, OPENS - timedelta(seconds=1))).opened == []
    assert await room_status(wf, room) == "scheduled"

    report = await tick_at(wf, OPENS)
    assert report.leader and report.opened == [room]
    assert await room_status(wf, room) == "open"
    [opened] = wf.seen("room.opened")
    assert opened["booking_id"] == booked["booking"] and opened["case_id"] == booked["case"]
    links = {link["kind"]: link for link in opened["links"]}
    assert set(links) == {"patient", "referrer", "expert", "interpreter"}
    for link in links.values():  # tokens for the window: usable now, expiring when it closes
        claims = wf.verify(link["token"])
        assert claims.room == room and claims.expires_at == CLOSES
    assert links["interpreter"]["role"] == "interpreter"

    # nobody came: pending until start + 15 min, then a no-show
    assert (await tick_at(wf, START + timedelta(minutes=14))).no_shows == []
    assert await case_status(wf, booked["case"]) == "scheduled"
    assert (await tick_at(wf, START + timedelta(minutes=15))).no_shows == [booked["case"]]
    case = await wf.ok("GET", f"/api/v1/cases/{booked['case']}")
    assert case["status"] == "no_show"
    assert (case["audit"][-1]["actor"], case["audit"][-1]["note"]) == ("scheduler", "both_absent")

    assert (await tick_at(wf, CLOSES - timedelta(seconds=1))).closed == []
    assert await room_status(wf, room) == "open"
    assert (await tick_at(wf, CLOSES)).closed == [room]
    assert await room_status(wf, room) == "ended"
    booking = await wf.ok("GET", f"/api/v1/bookings/{booked['booking']}")
    assert booking["room"]["state"] == "closed"
    assert booking["room"]["attendance"] == "both_absent"
    again = await tick_at(wf, CLOSES + timedelta(hours=1))
    assert (again.opened, again.closed, again.no_shows) == ([], [], [])


async def test_held_session_starts_the_case_and_stays_open_while_in_use(
    wf, booked, clients
) -> None:
    await tick_at(wf, OPENS)
    links = await wf.ok("GET", f"/api/v1/bookings/{booked['booking']}/links")
    by_kind = {link["kind"]: link for link in links["links"]}
    patient, expert = clients(), clients()
    await patient.connect(wf.url, by_kind["patient"]["token"])
    # a booked consultation has a waiting room: the patient waits for the expert
    assert (await patient.request("join"))["lobby"]["position"] == 1
    assert await case_status(wf, booked["case"]) == "scheduled"  # the expert is not there yet
    await expert.connect(wf.url, by_kind["expert"]["token"])
    joined = await expert.request("join")
    assert [w["identity"] for w in joined["waiting"]] == [by_kind["patient"]["identity"]]
    assert await case_status(wf, booked["case"]) == "scheduled"  # the patient still waits
    admitted = patient.expect("lobby.admitted")
    await expert.request("admin.admit", {"identity": by_kind["patient"]["identity"]})
    await asyncio.wait_for(admitted, 10)
    assert "participant" in await patient.request("join")
    # both sides present: the case is in progress at once, without waiting for a tick
    assert await case_status(wf, booked["case"]) == "in_progress"
    done = await wf.ok(
        "POST",
        f"/api/v1/cases/{booked['case']}/report",
        {"diagnosis": "stable angina", "treatment_plan": "beta blocker"},
        token=by_kind["expert"]["token"],
    )
    assert done["status"] == "completed"

    # past its window but still in use: kept open (and re-entry stays possible)
    report = await tick_at(wf, CLOSES + timedelta(minutes=5))
    assert report.closed == [] and report.kept_open == [booked["room"]]
    assert await room_status(wf, booked["room"]) == "open"
    for c in (patient, expert):
        await c.request("leave")
    report = await tick_at(wf, CLOSES + timedelta(minutes=6))
    assert report.closed == [booked["room"]]
    assert await room_status(wf, booked["room"]) == "ended"


async def refused(wf: WorkflowServer, token: str) -> dict:
    c = RawClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect(wf.url, token)
    await c.close()
    assert isinstance(c.connect_error, dict), c.connect_error
    return c.connect_error["data"]


async def test_joining_outside_the_window_is_refused_at_connect(wf, booked, clients) -> None:
    room = booked["room"]
    links = await wf.ok("GET", f"/api/v1/bookings/{booked['booking']}/links")
    patient_link = next(link for link in links["links"] if link["kind"] == "patient")
    assert when(patient_link["valid_from"]) == OPENS
    assert when(patient_link["expires_at"]) == CLOSES
    # a coordinator-minted token for the room (no nbf): the room itself says when it opens
    minted = (
        await wf.ok(
            "POST",
            f"/api/v1/rooms/{room}/tokens",
            {"identity": "dr-extra", "role": "doctor", "ttl": WEEK},
            status=201,
        )
    )["token"]

    wf.clock.current = OPENS - timedelta(minutes=1)
    err = await refused(wf, minted)
    assert err["code"] == "room_not_open"
    assert "2026-03-11 13:50 UTC+08:00 (Asia/Shanghai)" in err["message"], err
    # the party's link carries the window itself (nbf)
    assert (await refused(wf, patient_link["token"]))["code"] == "token_not_yet_valid"
    assert await room_status(wf, room) == "scheduled"

    # in the window the first connect opens the room, even before the scheduler's tick
    wf.clock.current = OPENS
    c = clients()
    await c.connect(wf.url, patient_link["token"])
    # (the patient waits in the booked consultation's waiting room: the room is open)
    assert "lobby" in await c.request("join")
    assert await room_status(wf, room) == "open"
    await c.close()
    assert (await tick_at(wf, OPENS + timedelta(seconds=5))).opened == []  # already open

    # after the window (and nobody in the room) the door is shut, tick or no tick
    wf.clock.current = CLOSES + timedelta(seconds=10)  # (tokens have 5 s of leeway)
    err = await refused(wf, minted)
    assert err["code"] == "room_closed" and "14:45 UTC+08:00 (Asia/Shanghai)" in err["message"]
    assert (await refused(wf, patient_link["token"]))["code"] == "token_expired"
    assert (await tick_at(wf, wf.clock.current)).closed == [room]
    assert (await refused(wf, minted))["code"] == "room_ended"


async def test_cancelled_booking_refuses_entry(wf, booked) -> None:
    minted = (
        await wf.ok(
            "POST",
            f"/api/v1/rooms/{booked['room']}/tokens",
            {"identity": "dr-extra", "role": "doctor", "ttl": WEEK},
            status=201,
        )
    )["token"]
    await wf.ok("POST", f"/api/v1/cases/{booked['case']}/cancel", {"reason": "recovered"})
    wf.clock.current = OPENS
    assert (await refused(wf, minted))["code"] == "room_ended"
    assert (await tick_at(wf, OPENS)).opened == []


async def test_only_the_lease_holder_acts(wf, booked) -> None:
    stores = wf.app[STORES]
    ours: Scheduler = wf.app[SCHEDULER]
    other = Scheduler(
        leases=stores.leases,
        bookings=stores.bookings,
        cases=wf.app[CASES],
        sessions=wf.app[BOOKING]._sessions,
        rooms=wf.app[ROOMS],
        clock=wf.clock,
        lease_ttl=timedelta(seconds=30),
        owner="node-b",
    )
    assert (await tick_at(wf, OPENS - timedelta(seconds=10))).leader  # ours holds the lease
    wf.clock.current = OPENS
    report = await other.tick()
    assert not report.leader and report.opened == []
    assert await room_status(wf, booked["room"]) == "scheduled"
    assert (await ours.tick()).opened == [booked["room"]]  # renewed until OPENS + 30 s
    wf.clock.current = OPENS + timedelta(seconds=29)
    assert not (await other.tick()).leader
    wf.clock.current = OPENS + timedelta(seconds=31)  # ours stopped renewing: node-b takes over
    assert (await other.tick()).leader
    assert not (await ours.tick()).leader


async def test_link_check_of_a_booked_room_says_whom_and_when(wf, booked) -> None:
    """The room page's link check (GET /api/v1/join/check) before the window: too early, with
    the opening time and the booked start, and whom the patient will meet; in it: open, and
    the patient will wait in the waiting room for the expert."""
    links = await wf.ok("GET", f"/api/v1/bookings/{booked['booking']}/links")
    by_kind = {link["kind"]: link for link in links["links"]}
    patient = by_kind["patient"]["token"]
    wf.clock.current = OPENS - timedelta(minutes=30)
    check = await wf.ok("GET", "/api/v1/join/check", token=patient)
    assert (check["ok"], check["code"]) == (False, "too_early"), check
    assert when(check["opens_at"]) == OPENS and when(check["starts_at"]) == START
    assert when(check["now"]) == OPENS - timedelta(minutes=30)
    meet = {(p["role"], p["name"]) for p in check["meet"]}
    assert ("expert", by_kind["expert"]["name"]) in meet, check["meet"]
    assert all(p["name"] != by_kind["patient"]["name"] for p in check["meet"])
    assert await room_status(wf, booked["room"]) == "scheduled"  # the check opens nothing

    wf.clock.current = OPENS + timedelta(minutes=1)
    check = await wf.ok("GET", "/api/v1/join/check", token=patient)
    assert check["ok"] is True and check["code"] is None and check["lobby"] is True, check
    expert = await wf.ok("GET", "/api/v1/join/check", token=by_kind["expert"]["token"])
    assert expert["ok"] is True and expert["lobby"] is False and expert["you"]["admin"] is True
