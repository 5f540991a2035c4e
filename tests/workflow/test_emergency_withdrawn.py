"""A withdrawn emergency closes its room at once (the real server, the SQLite store, Socket.IO
clients in the room): the calling clinic withdraws it (``POST /api/v1/emergencies/{case}/
withdraw``) or a coordinator cancels its case; everyone in the room is told by whom and
disconnected, the room is ended with that reason, and a late joiner's link is
refused with the same reason. Once an expert is in the room the consultation is under way:
withdrawing it is refused (409 ``expert_joined``) and nothing changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from tests.sio import RawClient
from tests.workflow.helpers import WorkflowServer, case_body
from tests.workflow.test_paging import (  # noqa: F401 (fixtures)
    account,
    clients,
    duty,
    login,
    wf,
)
from vidconsult.config import Settings

WAIT = 5  # a bound on awaited events, never a synchronisation


def link_of(opened: dict[str, Any], kind: str) -> str:
    return next(link["token"] for link in opened["links"] if link["kind"] == kind)


async def joined(server: WorkflowServer, make: Any, token: str) -> RawClient:
    client: RawClient = make()
    await client.connect(server.url, token)
    answer = await client.request("join")
    assert "room" in answer, answer
    return client


async def join_check(server: WorkflowServer, token: str) -> dict[str, Any]:
    status, body = await server.api("GET", "/api/v1/join/check", token=token)
    assert status == 200, body
    return dict(body)


async def test_the_calling_clinic_withdraws_and_the_room_closes_for_everyone_at_once(
    duty: WorkflowServer,  # noqa: F811
    clients: Any,  # noqa: F811
    settings: Settings,
) -> None:
    srv = duty
    doctor = await login(srv, "vil.doctor")
    opened = await srv.ok("POST", "/api/v1/emergencies", case_body(), status=201, token=doctor)
    case_id, room_id = opened["case"]["id"], opened["room"]["id"]
    # the clinic's consult room is in; a coordinator watches from the room too
    unit = await joined(srv, clients, link_of(opened, "unit"))
    coord = await joined(srv, clients, srv.mint("li.coord", "coordinator", room=room_id))
    told = [unit.expect("room.ended"), coord.expect("room.ended")]

    # another unit's doctor, or a room token, may not withdraw it
    await account(settings, "other.doctor", "doctor", unit_id="vil-2")
    other = await login(srv, "other.doctor")
    path = f"/api/v1/emergencies/{case_id}/withdraw"
    err = await srv.ok("POST", path, {"reason": "not ours"}, status=403, token=other)
    assert err["error"]["code"] == "other_unit"
    patient = srv.mint("pt-1", "patient", room=room_id)
    await srv.ok("POST", path, {"reason": "x"}, status=403, token=patient)
    await srv.ok("POST", path, {}, status=400, token=doctor)  # a reason is required
    assert (await srv.ok("GET", f"/api/v1/rooms/{room_id}"))["status"] == "open"

    withdrawn = await srv.ok("POST", path, {"reason": "patient stable, ECG normal"}, token=doctor)
    assert withdrawn["status"] == "cancelled"
    cancelled, by_whom = withdrawn["audit"][-2:]
    assert (cancelled["to"], cancelled["actor"]) == ("cancelled", "vil.doctor")
    # who withdrew it, kept with the case: what its room's joins are refused with
    assert (by_whom["action"], by_whom["note"]) == (
        "emergency.withdrawn",
        "emergency_withdrawn_by_unit",
    )

    # everyone in it is told why and by whom, then disconnected; nothing waits for a timer
    for said in await asyncio.wait_for(asyncio.gather(*told), WAIT):
        assert said == {"reason": "emergency_withdrawn_by_unit"}
    await asyncio.wait_for(unit.disconnected.wait(), WAIT)
    await asyncio.wait_for(coord.disconnected.wait(), WAIT)
    room = await srv.ok("GET", f"/api/v1/rooms/{room_id}")
    assert (room["status"], room["end_reason"]) == ("ended", "emergency_withdrawn_by_unit")
    assert room["participants"] == []
    [ended] = [e for e in srv.seen("room.ended") if e["room_id"] == room_id]
    assert (ended["reason"], ended["case_id"]) == ("emergency_withdrawn_by_unit", case_id)

    # the expert's link, opened late, is refused with the reason, and cannot join
    expert = link_of({"links": srv.seen("emergency.requested")[-1]["links"]}, "expert")
    check = await join_check(srv, expert)
    assert (check["ok"], check["code"]) == (False, "emergency_withdrawn_by_unit"), check
    late: RawClient = clients()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect(srv.url, expert)
    assert late.connect_error["data"]["code"] == "room_ended", late.connect_error  # final

    # a second withdrawal changes nothing
    err = await srv.ok("POST", path, {"reason": "again"}, status=409, token=doctor)
    assert err["error"]["code"] == "illegal_transition"


async def test_a_coordinator_cancelling_the_case_withdraws_it_for_the_centre(
    duty: WorkflowServer,  # noqa: F811
    clients: Any,  # noqa: F811
) -> None:
    srv = duty
    opened = await srv.ok("POST", "/api/v1/emergencies", case_body(), status=201)
    case_id, room_id = opened["case"]["id"], opened["room"]["id"]
    unit = await joined(srv, clients, link_of(opened, "unit"))
    told = unit.expect("room.ended")

    cancelled = await srv.ok("POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "duplicate"})
    assert cancelled["status"] == "cancelled"
    assert await asyncio.wait_for(told, WAIT) == {"reason": "emergency_withdrawn_by_centre"}
    await asyncio.wait_for(unit.disconnected.wait(), WAIT)
    room = await srv.ok("GET", f"/api/v1/rooms/{room_id}")
    assert (room["status"], room["end_reason"]) == ("ended", "emergency_withdrawn_by_centre")
    check = await join_check(srv, link_of(opened, "expert"))
    assert check["code"] == "emergency_withdrawn_by_centre", check

    # a routine case is not withdrawn as an emergency (it is cancelled as a case)
    routine = await srv.ok("POST", "/api/v1/cases", case_body(), status=201)
    err = await srv.ok(
        "POST", f"/api/v1/emergencies/{routine['id']}/withdraw", {"reason": "x"}, status=409
    )
    assert err["error"]["code"] == "not_emergency"
    missing = await srv.ok("POST", "/api/v1/emergencies/case_nope/withdraw", {"reason": "x"}, 404)
    assert missing["error"]["code"] == "not_found"


async def test_once_an_expert_is_in_the_room_withdrawal_is_refused(
    duty: WorkflowServer,  # noqa: F811
    clients: Any,  # noqa: F811
) -> None:
    srv = duty
    doctor = await login(srv, "vil.doctor")
    opened = await srv.ok("POST", "/api/v1/emergencies", case_body(), status=201)
    case_id, room_id = opened["case"]["id"], opened["room"]["id"]
    unit = await joined(srv, clients, link_of(opened, "unit"))
    expert = await joined(srv, clients, link_of(opened, "expert"))

    for path, token in (
        (f"/api/v1/emergencies/{case_id}/withdraw", doctor),
        (f"/api/v1/cases/{case_id}/cancel", None),
    ):
        err = await srv.ok("POST", path, {"reason": "patient stable"}, status=409, token=token)
        assert err["error"]["code"] == "expert_joined", err
        assert "zhou" in err["error"]["message"]
    # nothing changed: the consultation goes on
    assert (await srv.ok("GET", f"/api/v1/cases/{case_id}"))["status"] == "in_progress"
    room = await srv.ok("GET", f"/api/v1/rooms/{room_id}")
    assert room["status"] == "open"
    assert {p["identity"] for p in room["participants"]} == {"unit-vil-1", "zhou"}
    assert not unit.seen("room.ended") and not expert.seen("room.ended")
    assert not unit.disconnected.is_set() and not expert.disconnected.is_set()
