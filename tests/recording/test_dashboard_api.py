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
    assert [(r["room_id"], r["active"], r["error"]) for r in data["rooms"]] == [
        (quiet["id"], False, "disk_full")
    ]

    _, doc = await rec_server.api("GET", "/api/v1/openapi.json", token="")
    assert "get" in doc["paths"]["/api/v1/recording/active"]
    assert "get" in doc["paths"]["/api/v1/cases/{case_id}/recording-hold"]


async def test_newest_first_and_case_hold(rec_server: ServerHandle) -> None:
    store = rec_server.app[RECORDINGS].store
    base = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    ids = []
    for i in range(4):
        rec = Recording(
            id=f"rec_{i:012x}",
            room_id="rm_a",
            case_id="case-9" if i < 3 else None,
            identity=f"p{i}",
            role="doctor",
            path=f"2026/03/09/rm_a/p{i}.webm",
            started_at=base + timedelta(minutes=i),
            status=RecordingStatus.COMPLETED,
        )
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
    status, held = await rec_server.api("PUT", f"/api/v1/recordings/{ids[3]}/hold", {"held": True})
    assert status == 200 and held["legal_hold"] is True and held["case_hold"] is False
    doctor = rec_server.mint("dr-li", "doctor", room="rm_a")
    assert (await rec_server.api("GET", hold, token=doctor))[0] == 403
    await rec_server.api("PUT", hold, {"held": False})
    assert (await rec_server.api("GET", hold))[1]["held"] is False


async def test_room_status_details_are_for_whoever_runs_the_room(rec_server: ServerHandle) -> None:
    room = await rec_server.create_room("Cardiology")
    rid = room["id"]
    assert (await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/start"))[0] == 200
    url = f"/api/v1/rooms/{rid}/recording"
    # a patient (or a hidden recorder) learns only whether the room is recorded
    for token in (
        rec_server.mint("pt-wang", "patient", room=rid),
        rec_server.mint("rec-1", "recorder", room=rid),
    ):
        status, seen = await rec_server.api("GET", url, token=token)
        assert status == 200 and seen == {
            "room_id": rid,
            "active": True,
            "error": None,
            "error_code": None,
        }
    # the room's doctor (an admin) and coordinators see the session, files and policy
    status, full = await rec_server.api(
        "GET", url, token=rec_server.mint("dr-li", "doctor", room=rid)
    )
    assert status == 200 and {"session", "files", "policy"} <= set(full)
    assert {"session", "files", "policy"} <= set((await rec_server.api("GET", url))[1])
    other = rec_server.mint("pt-x", "patient", room="rm_other")
    assert (await rec_server.api("GET", url, token=other))[0] == 403
    await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")


async def test_date_filters_use_the_centre_zone_and_offsets(rec_server: ServerHandle) -> None:
    """The index stores UTC; a filter with an offset, or a bare date (the centre's day, as the
    dashboard shows it), must select by the instant, not by comparing text."""
    store = rec_server.app[RECORDINGS].store
    # 2026-03-09 in Shanghai (UTC+8) is 2026-03-08T16:00Z .. 2026-03-09T16:00Z
    for rid, at in (
        ("rec_before00000", datetime(2026, 3, 8, 15, 30, tzinfo=UTC)),
        ("rec_early000000", datetime(2026, 3, 8, 16, 30, tzinfo=UTC)),
        ("rec_late0000000", datetime(2026, 3, 9, 15, 30, tzinfo=UTC)),
        ("rec_after000000", datetime(2026, 3, 9, 16, 30, tzinfo=UTC)),
    ):
        await store.add_recording(
            Recording(
                id=rid,
                room_id="rm_d",
                case_id=None,
                identity=rid,
                role="doctor",
                path=f"2026/03/09/rm_d/{rid}.webm",
                started_at=at,
                status=RecordingStatus.COMPLETED,
            )
        )

    async def ids(query: str) -> list[str]:
        status, body = await rec_server.api("GET", f"/api/v1/recordings?room_id=rm_d&{query}")
        assert status == 200, body
        return [r["id"] for r in body["recordings"]]

    day = ["rec_early000000", "rec_late0000000"]
    assert await ids("since=2026-03-09&until=2026-03-10") == day
    assert await ids("since=2026-03-09T00:00:00%2B08:00&until=2026-03-10T00:00:00%2B08:00") == day
    assert await ids("since=2026-03-08T16:00:00Z&until=2026-03-09T16:00:00Z") == day


async def test_the_list_names_each_recordings_room(rec_server: ServerHandle) -> None:
    """The dashboard shows room names without fetching every room of the server."""
    room = await rec_server.create_room("Cardiology · Anda County")
    store = rec_server.app[RECORDINGS].store
    for rid, room_id in (("rec_named000000", room["id"]), ("rec_gone0000000", "rm_gone")):
        await store.add_recording(
            Recording(
                id=rid,
                room_id=room_id,
                case_id=None,
                identity="dr-li",
                role="doctor",
                path=f"2026/03/09/{room_id}/{rid}.webm",
                started_at=datetime(2026, 3, 9, tzinfo=UTC),
                status=RecordingStatus.COMPLETED,
            )
        )
    _, body = await rec_server.api("GET", "/api/v1/recordings")
    names = {r["id"]: r["room_name"] for r in body["recordings"]}
    assert names == {"rec_named000000": "Cardiology · Anda County", "rec_gone0000000": None}
