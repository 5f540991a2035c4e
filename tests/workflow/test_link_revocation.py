"""Booking links a coordinator asked for name that coordinator: disabling the account revokes
them, as it revokes the room links it minted (tests/accounts/test_revocation.py)."""

from __future__ import annotations

from tests.workflow.helpers import WED, WorkflowServer, cst

PASSWORD = "correct horse battery"


async def test_a_disabled_coordinators_booking_links_are_refused(wf: WorkflowServer) -> None:
    await wf.unit("vil-1")
    await wf.expert("wang")
    await wf.roster("wang", (WED, "14:00", "16:00"))
    case = await wf.case()
    booking = (await wf.book(case["id"]))["booking"]
    await wf.ok(
        "POST",
        "/api/v1/accounts",
        {"username": "li.coord", "role": "coordinator", "password": PASSWORD},
        status=201,
    )
    login = await wf.ok(
        "POST", "/api/v1/auth/login", {"username": "li.coord", "password": PASSWORD}, token=""
    )
    path = f"/api/v1/bookings/{booking['id']}/links"
    asked = (await wf.ok("GET", path, token=login["token"]))["links"]
    others = (await wf.ok("GET", path))["links"]  # asked with a `vidconsult token`

    wf.clock.advance(seconds=2)
    await wf.ok("PATCH", "/api/v1/accounts/li.coord", {"disabled": True})
    wf.clock.current = cst(11, 13, 50)  # the room's window opens: the links are valid now
    assert {wf.verify(link["token"]).minted_by for link in others} == {None}
    room = booking["room"]["room_id"]
    for link in asked:
        status, body = await wf.api("GET", f"/api/v1/rooms/{room}", token=link["token"])
        assert (status, body["error"]["code"]) == (401, "token_revoked")
    for link in others:
        assert (await wf.api("GET", f"/api/v1/rooms/{room}", token=link["token"]))[0] == 200
