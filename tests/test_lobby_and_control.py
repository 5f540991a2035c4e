"""The consult room's waiting room and controls (issue 10), over the real server with the
Python client (vidconsult/client.py): wait, be seen waiting, be admitted or declined; removal
that a reload cannot undo; admit, remove and mute from the dashboard's REST; the link check
before the camera; the audit trail of it all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import ServerHandle
from vidconsult.client import ClientError, RoomClient
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner

WAIT = 10


@pytest.fixture
async def sdk() -> object:
    made: list[RoomClient] = []

    def make(url: str, token: str, **kw: object) -> RoomClient:
        client = RoomClient(url, token, **kw)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_patient_waits_until_the_expert_admits(app_server: ServerHandle, sdk) -> None:
    room = await app_server.create_room("Lobby", lobby=True)
    rid = room["id"]
    assert room["lobby"] is True
    patient = sdk(app_server.url, app_server.mint("pt", "patient", room=rid, name="Zhang"))
    waiting = asyncio.create_task(patient.connect())
    await patient.wait_until(lambda: patient.lobby is not None)
    assert patient.lobby["position"] == 1 and patient.lobby["hosts"] == []
    assert not waiting.done()

    expert = sdk(app_server.url, app_server.mint("ex", "expert", room=rid, name="Dr Wu"))
    joined = await expert.connect()
    assert [w["identity"] for w in joined["waiting"]] == ["pt"]
    assert joined["waiting"][0]["name"] == "Zhang"
    # the dashboard's live-room view shows who waits
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert status == 200 and [w["identity"] for w in view["waiting"]] == ["pt"]
    assert view["participants"][0]["identity"] == "ex"

    await expert.admit("pt")
    reply = await asyncio.wait_for(waiting, WAIT)
    assert reply["participant"]["identity"] == "pt"
    await expert.wait_until(lambda: "pt" in expert.participants)
    await expert.wait_event("lobby.waiting", lambda d: d["waiting"] == [])
    assert expert.waiting == []

    # a reconnect after admission does not wait again (same live session of the room)
    await patient.close()
    again = sdk(app_server.url, app_server.mint("pt", "patient", room=rid))
    assert (await asyncio.wait_for(again.connect(), WAIT))["participant"]["identity"] == "pt"

    # on the case's (room's) audit trail
    status, log = await app_server.api("GET", f"/api/v1/rooms/{rid}/access-log")
    assert status == 200, log
    entries = [(e["action"], e["actor"], e["subject"]) for e in log["entries"]]
    assert ("lobby.admit", "ex", "pt") in entries


async def test_declined_patient_is_told_and_disconnected(app_server: ServerHandle, sdk) -> None:
    rid = (await app_server.create_room("Lobby", lobby=True))["id"]
    doctor = sdk(app_server.url, app_server.mint("dr", "doctor", room=rid))
    await doctor.connect()
    patient = sdk(app_server.url, app_server.mint("pt", "patient", room=rid))
    waiting = asyncio.create_task(patient.connect())
    await doctor.wait_until(lambda: [w["identity"] for w in doctor.waiting] == ["pt"])
    # a patient cannot admit anyone; nobody can admit someone not waiting
    with pytest.raises(ClientError) as not_waiting:
        await doctor.admit("nobody")
    assert not_waiting.value.code == "not_waiting"
    await doctor.decline("pt")
    with pytest.raises(ClientError) as declined:
        await asyncio.wait_for(waiting, WAIT)
    assert declined.value.code == "lobby_declined"
    await asyncio.wait_for(patient.disconnected.wait(), WAIT)
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert view["waiting"] == [] and [p["identity"] for p in view["participants"]] == ["dr"]


async def test_leaving_the_lobby_takes_one_off_the_list(
    app_server: ServerHandle, sdk, monkeypatch
) -> None:
    """close() while connect() waits in the waiting room ends that connect() at once with
    ``closed``, whether the join's answer (you wait) has come or not, and leaves nothing of the
    client running; the patient is taken off the list."""
    from vidconsult.app import SIGNALING

    rooms = app_server.app[SIGNALING].rooms
    rid = (await app_server.create_room("Lobby", lobby=True))["id"]
    doctor = sdk(app_server.url, app_server.mint("dr", "doctor", room=rid))
    await doctor.connect()
    # the join's answer held back until the patient has closed: connect() still awaits it
    hold = rooms.hold_in_lobby
    closed_now = asyncio.Event()

    async def held_answer(claims, sid):
        held = await hold(claims, sid)
        await closed_now.wait()
        return held

    monkeypatch.setattr(rooms, "hold_in_lobby", held_answer)
    patient = sdk(app_server.url, app_server.mint("pt", "patient", room=rid))
    waiting = asyncio.create_task(patient.connect())
    await doctor.wait_until(lambda: len(doctor.waiting) == 1)
    await patient.close()
    closed_now.set()
    # the pending connect() ends with the close, not at a timeout (WAIT is only a bound: a
    # TimeoutError there is the bug)
    with pytest.raises(ClientError) as closed:
        await asyncio.wait_for(waiting, WAIT)
    assert closed.value.code == "closed"
    await doctor.wait_until(lambda: doctor.waiting == [])
    # nothing of the patient's left running: no socket, no peer connection, no task
    assert not patient.sio.connected and patient.lobby is None
    assert patient.publish_state == "new" and patient.subscribe_state == "new"
    eio = patient.sio.eio
    assert eio.state == "disconnected"
    loops = (eio.read_loop_task, eio.write_loop_task, patient._replay, patient._watch_task)
    assert all(task is None or task.done() for task in loops), loops
    assert not patient._calls  # no request left waiting for an answer

    # the same once the join's answer put it in the waiting room (connect() awaits admission)
    monkeypatch.setattr(rooms, "hold_in_lobby", hold)
    second = sdk(app_server.url, app_server.mint("pt2", "patient", room=rid))
    waiting = asyncio.create_task(second.connect())
    await second.wait_until(lambda: second.lobby is not None)
    await second.close()
    with pytest.raises(ClientError) as closed:
        await asyncio.wait_for(waiting, WAIT)
    assert closed.value.code == "closed"
    assert not second.sio.connected and second.sio.eio.state == "disconnected"
    await doctor.wait_until(lambda: doctor.waiting == [])


async def test_a_connection_the_server_drops_before_the_lobby_answer_ends_connect(
    app_server: ServerHandle, sdk, monkeypatch
) -> None:
    """The socket closes (here: the server drops its transport) while connect() awaits the
    join's answer: the answer can never come, so connect() ends at once with ``disconnected``
    instead of waiting out the request's 20 s."""
    from signaling.relay import drop_transport
    from vidconsult.app import SIGNALING

    server = app_server.app[SIGNALING]
    rid = (await app_server.create_room("Lobby", lobby=True))["id"]
    hold = server.rooms.hold_in_lobby
    dropped = asyncio.Event()

    async def drop_then_answer(claims, sid):
        held = await hold(claims, sid)
        await drop_transport(server.sio, sid)
        await dropped.wait()  # the answer goes out only after the patient saw the close
        return held

    monkeypatch.setattr(server.rooms, "hold_in_lobby", drop_then_answer)
    patient = sdk(app_server.url, app_server.mint("pt", "patient", room=rid))
    waiting = asyncio.create_task(patient.connect())
    try:
        with pytest.raises(ClientError) as ended:
            await asyncio.wait_for(waiting, WAIT)
        assert ended.value.code == "disconnected"
    finally:
        dropped.set()
    assert not patient.sio.connected and not patient._calls
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert status == 200 and view["waiting"] == []


async def test_a_connection_closed_while_it_is_put_in_the_lobby_leaves_nobody_waiting(
    app_server: ServerHandle, sdk, monkeypatch
) -> None:
    """The patient's disconnect handled after the admins were told it waits, before the join
    marked the session as waiting (a window a loaded server widens: it failed a CI run): the
    join takes it off the list and refuses, nobody is left listed as waiting."""
    from vidconsult.app import SIGNALING

    server = app_server.app[SIGNALING]
    rid = (await app_server.create_room("Lobby", lobby=True))["id"]
    doctor = sdk(app_server.url, app_server.mint("dr", "doctor", room=rid))
    await doctor.connect()
    hold = server.rooms.hold_in_lobby

    async def hold_then_drop(claims, sid):
        held = await hold(claims, sid)
        await server._on_disconnect(sid, "transport close")  # python-socketio's dispatch, here
        return held

    monkeypatch.setattr(server.rooms, "hold_in_lobby", hold_then_drop)
    patient = sdk(app_server.url, app_server.mint("pt", "patient", room=rid))
    with pytest.raises(ClientError) as refused:
        await asyncio.wait_for(patient.connect(), WAIT)
    assert refused.value.code == "not_joined"
    await doctor.wait_until(lambda: doctor.waiting == [])
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert status == 200 and view["waiting"] == []


async def test_without_a_lobby_nobody_waits(app_server: ServerHandle, sdk) -> None:
    rid = (await app_server.create_room("Open door"))["id"]
    patient = sdk(app_server.url, app_server.mint("pt", "patient", room=rid))
    assert (await patient.connect())["participant"]["identity"] == "pt"
    assert patient.lobby is None


async def test_dashboard_admits_mutes_and_removes_for_good(app_server: ServerHandle, sdk) -> None:
    rid = (await app_server.create_room("Lobby", lobby=True))["id"]
    token = app_server.mint("pt", "patient", room=rid)
    patient = sdk(app_server.url, token)
    waiting = asyncio.create_task(patient.connect())
    await patient.wait_until(lambda: patient.lobby is not None)
    status, body = await app_server.api("POST", f"/api/v1/rooms/{rid}/lobby/pt/admit")
    assert status == 200 and body["done"] == "admitted", body
    await asyncio.wait_for(waiting, WAIT)

    status, body = await app_server.api("POST", f"/api/v1/rooms/{rid}/participants/pt/mute")
    assert status == 200, body
    asked = await patient.wait_event("mute.requested")
    assert asked["by"]

    # a patient's token may not use the controls
    status, body = await app_server.api(
        "DELETE", f"/api/v1/rooms/{rid}/participants/pt", token=token
    )
    assert status == 403, body

    status, body = await app_server.api("DELETE", f"/api/v1/rooms/{rid}/participants/pt")
    assert status == 200 and body["done"] == "removed", body
    await asyncio.wait_for(patient.disconnected.wait(), WAIT)
    # the same link again: refused (revoked), at the link check and at connect
    status, check = await app_server.api("GET", "/api/v1/join/check", token=token)
    assert status == 200 and check["ok"] is False and check["code"] == "token_revoked", check
    again = sdk(app_server.url, token)
    with pytest.raises(ClientError) as refused:
        await again.connect()
    assert refused.value.code == "token_revoked"
    status, body = await app_server.api("POST", f"/api/v1/rooms/{rid}/lobby/pt/admit")
    assert status == 404 and body["error"]["code"] == "not_waiting", body
    status, log = await app_server.api("GET", f"/api/v1/rooms/{rid}/access-log")
    assert "participant.remove" in [e["action"] for e in log["entries"]]


async def test_removed_in_the_room_cannot_come_back(app_server: ServerHandle, sdk) -> None:
    rid = (await app_server.create_room("Room"))["id"]
    token = app_server.mint("pt", "patient", room=rid)
    expert = sdk(app_server.url, app_server.mint("ex", "expert", room=rid))
    patient = sdk(app_server.url, token)
    await expert.connect()
    await patient.connect()
    await expert.remove("pt")
    await asyncio.wait_for(patient.disconnected.wait(), WAIT)
    with pytest.raises(ClientError) as refused:
        await sdk(app_server.url, token).connect()
    assert refused.value.code == "token_revoked"


async def test_link_check_says_whom_when_and_why_not(app_server: ServerHandle) -> None:
    room = await app_server.create_room("Cardiology consult", lobby=True)
    rid = room["id"]
    now = datetime.now(UTC)
    ok_token = app_server.mint("pt", "patient", room=rid, name="Zhang")
    status, check = await app_server.api("GET", "/api/v1/join/check", token=ok_token)
    assert status == 200, check
    assert check["ok"] is True and check["code"] is None
    assert check["room"]["name"] == "Cardiology consult"
    assert check["you"] == {
        "identity": "pt",
        "name": "Zhang",
        "role": "patient",
        "admin": False,
        "publish": True,
    }
    assert check["lobby"] is True
    assert check["centre"]["time_zone"] == "Asia/Shanghai"
    assert check["recording"]["on_refusal"] in {"join_unrecorded", "stay_out"}

    early = app_server.signer.mint(
        identity="pt2",
        role=Role.PATIENT,
        room=rid,
        now=now,
        ttl=timedelta(hours=3),
        not_before=now + timedelta(hours=1),
    )
    status, check = await app_server.api("GET", "/api/v1/join/check", token=early)
    assert check["ok"] is False and check["code"] == "token_not_yet_valid", check
    opens = datetime.fromisoformat(check["opens_at"])
    assert abs((opens - (now + timedelta(hours=1))).total_seconds()) < 2
    assert datetime.fromisoformat(check["now"]) < opens

    expired = app_server.signer.mint(
        identity="pt3",
        role=Role.PATIENT,
        room=rid,
        now=now - timedelta(hours=2),
        ttl=timedelta(hours=1),
    )
    status, check = await app_server.api("GET", "/api/v1/join/check", token=expired)
    assert (check["ok"], check["code"], check["you"]) == (False, "token_expired", None)

    forged = TokenSigner(b"x" * 40).mint(
        identity="m", role=Role.PATIENT, room=rid, now=now, ttl=timedelta(hours=1)
    )
    status, check = await app_server.api("GET", "/api/v1/join/check", token=forged)
    assert check["code"] == "token_invalid"
    status, check = await app_server.api("GET", "/api/v1/join/check", token="garbage")
    assert check["code"] == "token_malformed"
    status, body = await app_server.api("GET", "/api/v1/join/check", token="")
    assert status == 401 and body["error"]["code"] == "token_missing"

    await app_server.api("DELETE", f"/api/v1/rooms/{rid}")
    status, check = await app_server.api("GET", "/api/v1/join/check", token=ok_token)
    assert check["code"] == "room_ended"


async def test_consent_refused_keeps_out_where_the_rule_says(app_server: ServerHandle, sdk) -> None:
    from vidconsult.domain.consent import ConsentRule, OnRefusal
    from web.keys import ROOMS

    rooms = app_server.app[ROOMS]
    rid = (await app_server.create_room("Consent"))["id"]
    rooms.consent = ConsentRule(ask=True, on_refusal=OnRefusal.STAY_OUT)
    with pytest.raises(ClientError) as refused:
        await sdk(
            app_server.url, app_server.mint("pt", "patient", room=rid), consent=False
        ).connect()
    assert refused.value.code == "consent_refused"
    rooms.consent = ConsentRule(ask=True, on_refusal=OnRefusal.JOIN_UNRECORDED)
    joined = await sdk(
        app_server.url, app_server.mint("pt", "patient", room=rid), consent=False, name="Zhang S."
    ).connect()
    assert joined["participant"]["name"] == "Zhang S."
    status, log = await app_server.api("GET", f"/api/v1/rooms/{rid}/access-log")
    assert "recording.consent_refused" in [e["action"] for e in log["entries"]], log
