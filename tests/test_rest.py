"""The REST API on a real server (ephemeral port), media engine stubbed at its seam."""

from __future__ import annotations

import pytest

from tests.helpers import ServerHandle


async def test_health_and_openapi(app_server: ServerHandle) -> None:
    assert await app_server.api("GET", "/healthz", token="") == (200, {"status": "ok"})
    status, doc = await app_server.api("GET", "/api/v1/openapi.json", token="")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/rooms/{room_id}/tokens" in doc["paths"]
    assert "CreateToken" in doc["components"]["schemas"]


async def test_room_lifecycle(app_server: ServerHandle) -> None:
    room = await app_server.create_room("Cardiology consult", case_id="case-1")
    assert room["id"].startswith("rm_") and room["status"] == "open"
    assert room["case_id"] == "case-1" and room["participants"] == []

    tok = await app_server.join_token(room["id"], "dr-li", "doctor", "Dr Li")
    assert tok["join_url"] == f"{app_server.url}/room/{room['id']}#token={tok['token']}"
    claims = app_server.signer.verify(tok["token"])
    assert (claims.room, claims.identity, claims.role.value) == (room["id"], "dr-li", "doctor")

    status, listed = await app_server.api("GET", "/api/v1/rooms")
    assert status == 200 and [r["id"] for r in listed["rooms"]] == [room["id"]]
    other = await app_server.create_room("Other", case_id="case-2")
    _, by_case = await app_server.api("GET", "/api/v1/rooms?case_id=case-1")
    assert [r["id"] for r in by_case["rooms"]] == [room["id"]]
    await app_server.api("DELETE", f"/api/v1/rooms/{other['id']}")

    # a participant's own room-bound token may read its room, not others
    status, got = await app_server.api("GET", f"/api/v1/rooms/{room['id']}", token=tok["token"])
    assert status == 200 and got["name"] == "Cardiology consult"

    status, ended = await app_server.api("DELETE", f"/api/v1/rooms/{room['id']}")
    assert status == 200 and ended["status"] == "ended"
    status, err = await app_server.api("DELETE", f"/api/v1/rooms/{room['id']}")
    assert status == 409 and err["error"]["code"] == "room_ended"
    status, listed = await app_server.api("GET", "/api/v1/rooms")
    assert listed["rooms"] == []
    status, listed = await app_server.api("GET", "/api/v1/rooms?status=ended")
    assert sorted(r["id"] for r in listed["rooms"]) == sorted([room["id"], other["id"]])
    # no tokens for an ended room
    status, err = await app_server.api(
        "POST", f"/api/v1/rooms/{room['id']}/tokens", {"identity": "x", "role": "patient"}
    )
    assert status == 409


@pytest.mark.parametrize(
    ("token_of", "status", "code"),
    [
        (lambda s: "", 401, "token_missing"),
        (lambda s: "garbage", 401, "token_malformed"),
        (lambda s: s.mint("p", "patient", room="rm_x"), 403, "permission_denied"),
        (lambda s: s.mint("c", "coordinator", room="rm_x"), 403, "permission_denied"),
        (lambda s: s.mint("c", "coordinator", ttl=-10), 401, "token_expired"),
    ],
    ids=["none", "malformed", "patient", "room-bound-coordinator", "expired"],
)
async def test_writes_need_a_coordinator(app_server: ServerHandle, token_of, status, code) -> None:
    if "expired" in code:
        # mint() refuses a negative ttl; sign an already expired one by hand
        from datetime import UTC, datetime, timedelta

        from vidconsult.domain.roles import Role

        token = app_server.signer.mint(
            identity="c",
            role=Role.COORDINATOR,
            now=datetime.now(UTC) - timedelta(hours=2),
            ttl=timedelta(hours=1),
        )
    else:
        token = token_of(app_server)
    got_status, body = await app_server.api("POST", "/api/v1/rooms", {"name": "x"}, token=token)
    assert got_status == status
    assert body["error"]["code"] == code
    _, listed = await app_server.api("GET", "/api/v1/rooms")
    assert listed["rooms"] == []  # nothing was created


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_payload"),
        ({"name": ""}, "invalid_payload"),
        ({"name": "x", "unknown": 1}, "invalid_payload"),
        ({"name": 42}, "invalid_payload"),
        ({"name": "x", "case_id": ""}, "invalid_payload"),  # a room of case ""
        ([1, 2], "invalid_payload"),
    ],
)
async def test_bad_room_payloads(app_server: ServerHandle, body, code) -> None:
    status, data = await app_server.api("POST", "/api/v1/rooms", body)
    assert status == 400
    assert data["error"]["code"] == code and data["error"]["message"]


async def test_not_json_and_too_large(app_server: ServerHandle) -> None:
    status, data = await app_server.api(
        "POST", "/api/v1/rooms", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and data["error"]["code"] == "invalid_json"
    status, data = await app_server.api(
        "POST", "/api/v1/rooms", data=b"name=x", headers={"Content-Type": "text/plain"}
    )
    assert status == 400 and data["error"]["code"] == "unsupported_media_type"
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, data = await app_server.api(
        "POST", "/api/v1/rooms", data=big, headers={"Content-Type": "application/json"}
    )
    assert status == 413 and data["error"]["code"] == "too_large"


async def test_token_payload_errors(app_server: ServerHandle) -> None:
    room = await app_server.create_room()
    path = f"/api/v1/rooms/{room['id']}/tokens"
    for body in (
        {"identity": "a b", "role": "patient"},
        {"identity": "a", "role": "surgeon"},
        {"identity": "a", "role": "patient", "ttl": 5},
        {"role": "patient"},
    ):
        status, data = await app_server.api("POST", path, body)
        assert status == 400, body
        assert data["error"]["code"] == "invalid_payload"
    status, data = await app_server.api(
        "POST", "/api/v1/rooms/rm_nope/tokens", {"identity": "a", "role": "patient"}
    )
    assert status == 404 and data["error"]["code"] == "not_found"
    status, data = await app_server.api("GET", "/api/v1/rooms/rm_nope")
    assert status == 404


async def test_room_token_cannot_read_another_room(app_server: ServerHandle) -> None:
    a = await app_server.create_room("a")
    b = await app_server.create_room("b")
    tok = await app_server.join_token(a["id"], "p", "patient")
    status, data = await app_server.api("GET", f"/api/v1/rooms/{b['id']}", token=tok["token"])
    assert status == 403 and data["error"]["code"] == "wrong_room"
    # a patient may not end its room; a doctor (room admin) may
    status, _ = await app_server.api("DELETE", f"/api/v1/rooms/{a['id']}", token=tok["token"])
    assert status == 403
    doc = await app_server.join_token(a["id"], "d", "doctor")
    status, _ = await app_server.api("DELETE", f"/api/v1/rooms/{a['id']}", token=doc["token"])
    assert status == 200


async def test_metrics_exposes_room_gauges(app_server: ServerHandle) -> None:
    status, text = await app_server.api("GET", "/metrics", token="")
    assert status == 200
    for name in (
        "vidconsult_rooms",
        "vidconsult_participants",
        "vidconsult_tracks",
        "vidconsult_forwarded_bytes_total",
    ):
        assert name in text


async def test_room_page_is_served(app_server: ServerHandle) -> None:
    async with app_server.session.get(app_server.url + "/room/rm_any") as resp:
        assert resp.status == 200
        assert "text/html" in resp.headers["Content-Type"]


async def test_absurd_token_times_are_401_never_500(app_server: ServerHandle) -> None:
    # before: 500 (OverflowError) for a validly signed token with exp 10**400
    import jwt

    from tests.helpers import SECRET

    for exp in (10**400, 1e308, True):
        token = jwt.encode(
            {"sub": "c", "role": "coordinator", "iss": "vidconsult", "iat": 0, "exp": exp},
            SECRET.encode(),
            algorithm="HS256",
        )
        status, body = await app_server.api("GET", "/api/v1/rooms", token=token)
        assert status == 401, (exp, status, body)
        assert body["error"]["code"] == "token_malformed"
