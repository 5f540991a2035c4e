"""The signaling protocol over a real Socket.IO connection (media engine stubbed at its seam)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import socketio

from tests.helpers import ServerHandle
from tests.sio import RawClient
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner

WAIT = 5


@pytest.fixture
async def clients():
    made: list[RawClient] = []

    def make() -> RawClient:
        c = RawClient()
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()


async def refused(server: ServerHandle, token: str, **auth) -> dict:
    c = RawClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect(server.url, token, **auth)
    await c.close()
    assert isinstance(c.connect_error, dict), c.connect_error
    assert c.connect_error["message"]
    return c.connect_error["data"]


async def test_bad_tokens_are_refused_at_connect(app_server: ServerHandle) -> None:
    room = await app_server.create_room()
    other = await app_server.create_room("other")
    rid = room["id"]
    expired = app_server.signer.mint(
        identity="p",
        role=Role.PATIENT,
        room=rid,
        now=datetime.now(UTC) - timedelta(hours=2),
        ttl=timedelta(hours=1),
    )
    forged = TokenSigner(b"f" * 40).mint(
        identity="p", role=Role.PATIENT, room=rid, now=datetime.now(UTC), ttl=timedelta(hours=1)
    )
    assert (await refused(app_server, expired))["code"] == "token_expired"
    assert (await refused(app_server, forged))["code"] == "token_invalid"
    assert (await refused(app_server, "abc.def.ghi"))["code"] == "token_malformed"
    assert (await refused(app_server, ""))["code"] == "token_missing"
    assert (await refused(app_server, app_server.mint("p", "patient", room="rm_none")))[
        "code"
    ] == "not_found"
    # a token for room A presented for room B
    wrong = app_server.mint("p", "patient", room=rid)
    assert (await refused(app_server, wrong, room=other["id"]))["code"] == "wrong_room"
    assert (await refused(app_server, app_server.coordinator_token))["code"] == "room_required"
    await app_server.api("DELETE", f"/api/v1/rooms/{rid}")
    assert (await refused(app_server, wrong))["code"] == "room_ended"


@pytest.mark.settings(reconnect_grace_seconds=1.0)
async def test_join_presence_and_leave(app_server: ServerHandle, clients) -> None:
    room = await app_server.create_room()
    rid = room["id"]
    a, b = clients(), clients()
    await a.connect(app_server.url, app_server.mint("dr-li", "doctor", room=rid, name="Dr Li"))
    ra = await a.request("join")
    assert ra["room"]["id"] == rid and ra["participant"]["identity"] == "dr-li"
    assert ra["participants"] == [] and ra["ice_servers"] == []

    joined = a.expect("participant.joined")
    await b.connect(app_server.url, app_server.mint("pt-wang", "patient", room=rid))
    rb = await b.request("join")
    assert [p["identity"] for p in rb["participants"]] == ["dr-li"]
    assert (await asyncio.wait_for(joined, WAIT))["participant"]["identity"] == "pt-wang"

    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert sorted(p["identity"] for p in view["participants"]) == ["dr-li", "pt-wang"]

    left = a.expect("participant.left")
    assert await b.request("leave") == {"ok": True}
    assert (await asyncio.wait_for(left, WAIT)) == {"identity": "pt-wang", "reason": "left"}
    await asyncio.wait_for(b.disconnected.wait(), WAIT)
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert [p["identity"] for p in view["participants"]] == ["dr-li"]

    # a dropped connection counts as leaving too, once its seat's grace (1 s here) ran out
    c = clients()
    await c.connect(app_server.url, app_server.mint("nurse", "patient", room=rid))
    await c.request("join")
    reconnecting = a.expect("participant.reconnecting")
    left = a.expect("participant.left")
    await c.sio.disconnect()
    assert (await asyncio.wait_for(reconnecting, WAIT)) == {"identity": "nurse"}
    dropped = asyncio.get_running_loop().time()
    assert (await asyncio.wait_for(left, WAIT)) == {"identity": "nurse", "reason": "disconnected"}
    assert asyncio.get_running_loop().time() - dropped > 0.8
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert [p["identity"] for p in view["participants"]] == ["dr-li"]


@pytest.mark.settings(reconnect_grace_seconds=2.0)
async def test_a_rejoin_within_the_grace_resumes_the_seat(
    app_server: ServerHandle, clients
) -> None:
    """The room sees a dropped participant as reconnecting, then back: no leave, no join."""
    room = await app_server.create_room()
    rid = room["id"]
    doctor, patient = clients(), clients()
    await doctor.connect(app_server.url, app_server.mint("dr-li", "doctor", room=rid))
    await doctor.request("join")
    token = app_server.mint("pt-wang", "patient", room=rid)
    await patient.connect(app_server.url, token)
    first = (await patient.request("join"))["participant"]
    assert first["reconnecting"] is False
    assert (await patient.request("hand.raise", {"raised": True}))["raised"] is True

    joins = len(doctor.seen("participant.joined"))
    reconnecting = doctor.expect("participant.reconnecting")
    await patient.sio.eio.disconnect(abort=True)  # the link dies: no leave, no goodbye
    assert (await asyncio.wait_for(reconnecting, WAIT)) == {"identity": "pt-wang"}
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    seat = next(p for p in view["participants"] if p["identity"] == "pt-wang")
    assert seat["reconnecting"] is True

    back = clients()
    reconnected = doctor.expect("participant.reconnected")
    await back.connect(app_server.url, token)
    again = (await back.request("join"))["participant"]
    got = (await asyncio.wait_for(reconnected, WAIT))["participant"]
    # the same seat: when it was first taken, the raised hand; no longer reconnecting
    for p in (again, got):
        assert p["identity"] == "pt-wang" and p["reconnecting"] is False, p
        assert p["joined_at"] == first["joined_at"] and p["hand_raised"] is True, p
    # the grace's end does not take the resumed seat away
    await asyncio.sleep(2.5)
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert sorted(p["identity"] for p in view["participants"]) == ["dr-li", "pt-wang"]
    assert not doctor.seen("participant.left")
    assert len(doctor.seen("participant.joined")) == joins
    assert (await back.request("chat.send", {"text": "back"}))["ok"] is True


@pytest.mark.settings(reconnect_grace_seconds=0)
async def test_without_a_grace_a_drop_is_a_leave(app_server: ServerHandle, clients) -> None:
    room = await app_server.create_room()
    a, b = clients(), clients()
    await a.connect(app_server.url, app_server.mint("dr-li", "doctor", room=room["id"]))
    await a.request("join")
    await b.connect(app_server.url, app_server.mint("pt", "patient", room=room["id"]))
    await b.request("join")
    left = a.expect("participant.left")
    await b.sio.eio.disconnect(abort=True)
    assert (await asyncio.wait_for(left, WAIT)) == {"identity": "pt", "reason": "disconnected"}
    assert not a.seen("participant.reconnecting")


async def test_bad_requests_get_errors_and_the_session_survives(
    app_server: ServerHandle, clients
) -> None:
    room = await app_server.create_room()
    a = clients()
    await a.connect(app_server.url, app_server.mint("dr", "doctor", room=room["id"]))
    assert (await a.request("chat.send", {"text": "hi"}))["error"]["code"] == "not_joined"
    await a.request("join")
    assert (await a.request("join"))["error"]["code"] == "already_joined"
    bad = [
        ("publish.offer", {"sdp": "garbage", "type": "offer"}, "invalid_sdp"),
        ("publish.offer", {"sdp": "v=0", "type": "answer"}, "invalid_payload"),
        ("publish.offer", {"type": "offer"}, "invalid_payload"),
        ("publish.offer", "not-an-object", "invalid_payload"),
        ("track.mute", {"track_sid": "TR_none", "muted": True}, "not_found"),
        ("no.such.event", {}, "unknown_event"),
        ("admin.remove", {"identity": "nobody"}, "not_found"),
        ("chat.send", {"text": ""}, "invalid_payload"),
    ]
    for event, payload, code in bad:
        reply = await a.request(event, payload)
        assert reply["error"]["code"] == code, (event, reply)
    assert len(a.seen("error")) >= len(bad)
    # still joined and healthy
    reply = await a.request("chat.send", {"text": "still here"})
    assert reply["ok"] is True and reply["message"]["text"] == "still here"
    status, view = await app_server.api("GET", f"/api/v1/rooms/{room['id']}")
    assert [p["identity"] for p in view["participants"]] == ["dr"]


async def test_observer_cannot_publish(app_server: ServerHandle, clients) -> None:
    room = await app_server.create_room()
    o = clients()
    await o.connect(app_server.url, app_server.mint("obs", "observer", room=room["id"]))
    await o.request("join")
    reply = await o.request("publish.offer", {"sdp": "v=0\r\n", "type": "offer"})
    assert reply["error"]["code"] == "permission_denied"


async def test_duplicate_identity_replaces_the_older_session(
    app_server: ServerHandle, clients
) -> None:
    room = await app_server.create_room()
    token = app_server.mint("dr", "doctor", room=room["id"])
    old, new = clients(), clients()
    await old.connect(app_server.url, token)
    await old.request("join")
    removed = old.expect("removed")
    await new.connect(app_server.url, token)
    await new.request("join")
    assert (await asyncio.wait_for(removed, WAIT))["reason"] == "duplicate_identity"
    await asyncio.wait_for(old.disconnected.wait(), WAIT)
    status, view = await app_server.api("GET", f"/api/v1/rooms/{room['id']}")
    assert [p["identity"] for p in view["participants"]] == ["dr"]
    assert (await new.request("chat.send", {"text": "ok"}))["ok"] is True


async def test_admin_remove_and_end_room(app_server: ServerHandle, clients) -> None:
    room = await app_server.create_room()
    rid = room["id"]
    doc, pat, exp = clients(), clients(), clients()
    await doc.connect(app_server.url, app_server.mint("dr", "doctor", room=rid))
    await pat.connect(app_server.url, app_server.mint("pt", "patient", room=rid))
    await exp.connect(app_server.url, app_server.mint("ex", "expert", room=rid))
    for c in (doc, pat, exp):
        await c.request("join")
    # a patient is not a room admin
    assert (await pat.request("admin.remove", {"identity": "ex"}))["error"][
        "code"
    ] == "permission_denied"
    assert (await pat.request("admin.end_room"))["error"]["code"] == "permission_denied"
    removed = pat.expect("removed")
    assert await doc.request("admin.remove", {"identity": "pt"}) == {"ok": True}
    assert (await asyncio.wait_for(removed, WAIT))["reason"] == "removed_by_admin"
    await asyncio.wait_for(pat.disconnected.wait(), WAIT)

    # the grants table lets the consulting expert end the consult (issue 10)
    ended = doc.expect("room.ended")
    assert await exp.request("admin.end_room") == {"ok": True}
    assert "ex" in (await asyncio.wait_for(ended, WAIT))["reason"]
    await asyncio.wait_for(exp.disconnected.wait(), WAIT)
    await asyncio.wait_for(doc.disconnected.wait(), WAIT)
    status, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    assert view["status"] == "ended" and view["participants"] == []


async def test_rest_end_room_disconnects_everyone(app_server: ServerHandle, clients) -> None:
    room = await app_server.create_room()
    a = clients()
    await a.connect(app_server.url, app_server.mint("p", "patient", room=room["id"]))
    await a.request("join")
    ended = a.expect("room.ended")
    status, _ = await app_server.api("DELETE", f"/api/v1/rooms/{room['id']}")
    assert status == 200
    await asyncio.wait_for(ended, WAIT)
    await asyncio.wait_for(a.disconnected.wait(), WAIT)


async def test_hidden_recorder_is_not_announced(app_server: ServerHandle, clients) -> None:
    room = await app_server.create_room()
    rid = room["id"]
    doc, rec = clients(), clients()
    await doc.connect(app_server.url, app_server.mint("dr", "doctor", room=rid))
    await doc.request("join")
    await rec.connect(app_server.url, app_server.mint("rec", "recorder", room=rid))
    reply = await rec.request("join")
    assert [p["identity"] for p in reply["participants"]] == ["dr"]
    # a later, visible participant is announced; the recorder never was
    joined = doc.expect("participant.joined")
    pat = clients()
    await pat.connect(app_server.url, app_server.mint("pt", "patient", room=rid))
    reply = await pat.request("join")
    assert (await asyncio.wait_for(joined, WAIT))["participant"]["identity"] == "pt"
    assert [p["participant"]["identity"] for p in doc.seen("participant.joined")] == ["pt"]
    assert [p["identity"] for p in reply["participants"]] == ["dr"]


async def test_raise_hand_is_told_to_everyone_and_kept_in_the_roster(
    app_server: ServerHandle, clients
) -> None:
    room = await app_server.create_room()
    rid = room["id"]
    a, b = clients(), clients()
    await a.connect(app_server.url, app_server.mint("dr-li", "expert", room=rid))
    await a.request("join")
    await b.connect(app_server.url, app_server.mint("pt-wang", "patient", room=rid))
    assert (await b.request("join"))["participant"]["hand_raised"] is False

    told = a.expect("hand.raised")
    assert await b.request("hand.raise", {"raised": True}) == {"ok": True, "raised": True}
    up = await asyncio.wait_for(told, WAIT)
    assert (up["identity"], up["raised"]) == ("pt-wang", True)
    assert up["at"].endswith("+00:00"), up  # when it went up: the queue's order
    _, view = await app_server.api("GET", f"/api/v1/rooms/{rid}")
    hands = {p["identity"]: (p["hand_raised"], p["hand_raised_at"]) for p in view["participants"]}
    assert hands == {"dr-li": (False, None), "pt-wang": (True, up["at"])}
    # a late joiner sees the raised hand in the join reply
    c = clients()
    await c.connect(app_server.url, app_server.mint("nurse", "doctor", room=rid))
    roster = {p["identity"]: p["hand_raised"] for p in (await c.request("join"))["participants"]}
    assert roster["pt-wang"] is True

    lowered = a.expect("hand.raised")
    await b.request("hand.raise", {"raised": False})
    assert await asyncio.wait_for(lowered, WAIT) == {
        "identity": "pt-wang",
        "raised": False,
        "at": None,
    }
    bad = await b.request("hand.raise", {"raised": "yes please"})
    assert bad["error"]["code"] == "invalid_payload"


async def test_publish_offer_sources_are_validated(app_server: ServerHandle, clients) -> None:
    room = await app_server.create_room()
    a = clients()
    await a.connect(app_server.url, app_server.mint("dr-li", "expert", room=room["id"]))
    await a.request("join")
    for sources in ({"0": "tv"}, {"x" * 40: "screen"}, ["0", "screen"]):
        reply = await a.request(
            "publish.offer", {"sdp": "v=0", "type": "offer", "sources": sources}
        )
        assert reply["error"]["code"] == "invalid_payload", sources


async def test_join_trace_marks_the_token_check_and_the_join(settings, clients) -> None:
    """With a JoinTrace (the join benchmark's), the socket connect and the join request are
    timed on the server; without one (every other test), nothing is recorded."""
    from tests.conftest import _serve
    from tests.fakes import NullMediaEngine
    from vidconsult.join_trace import JoinTrace

    trace = JoinTrace()
    async for server in _serve(settings, media=NullMediaEngine(), join_trace=trace):
        rid = (await server.create_room())["id"]
        a = clients()
        await a.connect(server.url, server.mint("dr-li", "doctor", room=rid))
        await a.request("join")
        marks = trace.room(rid)["dr-li"]
        assert marks["tokenChecked"] <= marks["joinReceived"] <= marks["joinReplied"]
        assert "publishOfferReceived" not in marks
