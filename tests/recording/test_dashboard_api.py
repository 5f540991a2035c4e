"""What the dashboard's recordings views ask of the API: which rooms record now (one request
for the whole live rooms list), the newest recordings first, and whether a case is on hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import ServerHandle
from vidconsult.domain.recordings import Recording, RecordingStatus
from web.recordings_api import RECORDINGS


async def test_active_recordings_in_one_request(rec_server: ServerHandle) -> None:
    quiet = await rec_server.create_room("Quiet")
    room = await rec_server.create_room("Cardiology")
    rid = room["id"]
    assert await rec_server.api("GET", "/api/v1/recording/active") == (200, {"rooms": []})

    status, started = await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/start")
    assert status == 200 and started["active"] is True
    status, data = await rec_server.api("GET", "/api/v1/recording/active")
    assert status == 200
    assert [(r["room_id"], r["active"]) for r in data["rooms"]] == [(rid, True)]
    assert data["rooms"][0]["session"]["session_id"] == started["session"]["session_id"]
    # the same as the room's own status, less its policy
    own = (await rec_server.api("GET", f"/api/v1/rooms/{rid}/recording"))[1]
    assert {k: v for k, v in own.items() if k != "policy"} == data["rooms"][0]

    # coordinators only: a room admin asks its own room's status
    admin = rec_server.mint("dr-li", "doctor", room=rid)
    assert (await rec_server.api("GET", "/api/v1/recording/active", token=admin))[0] == 403
    assert (await rec_server.api("GET", "/api/v1/recording/active", token=""))[0] == 401

    await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
    assert (await rec_server.api("GET", "/api/v1/recording/active"))[1] == {"rooms": []}

    # a recording stopped by an error stays listed, not active, with its error
    rec_server.app[RECORDINGS].errors[quiet["id"]] = "disk_full"
    _, data = await rec_server.api("GET", "/api/v1/recording/active")
    assert [(r["room_id"], r["active"], r["error"]) for r in data["rooms"]] == \
        [(quiet["id"], False, "disk_full")]

    _, doc = await rec_server.api("GET", "/api/v1/openapi.json", token="")
    assert "get" in doc["paths"]["/api/v1/recording/active"]
    assert "get" in doc["paths"]["/api/v1/cases/{case_id}/recording-hold"]


async def test_newest_first_and_case_hold(rec_server: ServerHandle) -> None:
    store = rec_server.app[RECORDINGS].store
    base = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    ids = []
    for i in range(4):
        rec = Recording(id=f"rec_{i:012x}", room_id="rm_a", case_id="case-9" if i < 3 else None,
                        identity=f"p{i}", role="doctor", path=f"2026/03/09/rm_a/p{i}.webm",
                        started_at=base + timedelta(minutes=i),
                        status=RecordingStatus.COMPLETED)
        await store.add_recording(rec)
        ids.append(rec.id)

    _, oldest = await rec_server.api("GET", "/api/v1/recordings?room_id=rm_a&limit=2")
    assert [r["id"] for r in oldest["recordings"]] == ids[:2]
    _, newest = await rec_server.api("GET", "/api/v1/recordings?room_id=rm_a&limit=2&order=desc")
    assert [r["id"] for r in newest["recordings"]] == [ids[3], ids[2]]
    assert (await rec_server.api("GET", "/api/v1/recordings?order=sideways"))[0] == 400
    assert (await rec_server.api("GET", "/api/v1/recordings?limit=many"))[0] == 400

    # the case's hold: read back, and flagged on each of its recordings
    hold = "/api/v1/cases/case-9/recording-hold"
    assert await rec_server.api("GET", hold) == (200, {"case_id": "case-9", "held": False})
    assert (await rec_server.api("PUT", hold, {"held": True}))[0] == 200
    assert await rec_server.api("GET", hold) == (200, {"case_id": "case-9", "held": True})
    _, listing = await rec_server.api("GET", "/api/v1/recordings?room_id=rm_a")
    assert [r["case_hold"] for r in listing["recordings"]] == [True, True, True, False]
    assert all(r["legal_hold"] is False for r in listing["recordings"])
    _, one = await rec_server.api("GET", f"/api/v1/recordings/{ids[0]}")
    assert one["case_hold"] is True
    status, held = await rec_server.api("PUT", f"/api/v1/recordings/{ids[3]}/hold",
                                        {"held": True})
    assert status == 200 and held["legal_hold"] is True and held["case_hold"] is False
    doctor = rec_server.mint("dr-li", "doctor", room="rm_a")
    assert (await rec_server.api("GET", hold, token=doctor))[0] == 403
    await rec_server.api("PUT", hold, {"held": False})
    assert (await rec_server.api("GET", hold))[1]["held"] is False
