"""Issue 14, signaling: what an attacker on loopback found, each reproduced as it was sent.
Raw Engine.IO / Socket.IO frames go over aiohttp's WebSocket client (tests/sio.py RawSocket);
the media engine is stubbed at its seam (the caps are checked before it)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import _serve
from tests.fakes import NullMediaEngine
from tests.helpers import SECRET, ServerHandle
from tests.sio import RawClient, RawSocket
from vidconsult.config import Settings

WAIT = 5


@pytest.fixture
async def raw() -> AsyncIterator[list[RawSocket]]:
    made: list[RawSocket] = []
    yield made
    for s in made:
        await s.close()


def socket_for(server: ServerHandle, made: list[RawSocket]) -> RawSocket:
    s = RawSocket(server.session, server.url)
    made.append(s)
    return s


async def participants(server: ServerHandle, room_id: str) -> list[str]:
    status, view = await server.api("GET", f"/api/v1/rooms/{room_id}")
    assert status == 200, view
    return sorted(p["identity"] for p in view["participants"])


async def joined_doctor(server: ServerHandle, room_id: str) -> RawClient:
    doctor = RawClient()
    await doctor.connect(server.url, server.mint("dr", "doctor", room=room_id))
    await doctor.request("join")
    return doctor


def sdp_with(sections: int, newline: str = "\r\n") -> str:
    head = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    return newline.join(head + ["m=audio 9 UDP/TLS/RTP/SAVPF 111"] * sections) + newline


@pytest.mark.settings(reconnect_grace_seconds=1.0)
async def test_a_client_sent_connect_event_leaves_no_ghost(
    app_server: ServerHandle, raw: list[RawSocket]
) -> None:
    # before: the event reached the connect handler, which replaced the joined session with a
    # new one; on disconnect the participant stayed listed, holding one of the 2 seats.
    # A joined participant's dropped connection keeps its seat for the reconnect grace (1 s
    # here, not the 15 s default): the drop is seen as this session's (reconnecting), and the
    # seat is freed when the grace ends (left), not held for ever
    room = await app_server.create_room(max_participants=2)
    rid = room["id"]
    doctor = await joined_doctor(app_server, rid)
    try:
        s = socket_for(app_server, raw)
        assert (await s.open(app_server.mint("pt", "patient", room=rid))).startswith("40")
        assert "participant" in (await s.call(1, "join", {}))[0]
        other = app_server.mint("pt2", "patient", room=rid)
        reply = (await s.call(2, "connect", {}, {"token": other}))[0]
        assert reply["error"]["code"] == "reserved_event"
        reply = (await s.call(3, "connect"))[0]
        assert reply["error"]["code"] == "reserved_event"
        reconnecting = doctor.expect("participant.reconnecting")
        left = doctor.expect("participant.left")
        await s.close()
        assert (await asyncio.wait_for(reconnecting, WAIT))["identity"] == "pt"
        gone = await asyncio.wait_for(left, WAIT)
        assert (gone["identity"], gone["reason"]) == ("pt", "disconnected")
        assert await participants(app_server, rid) == ["dr"]
        nxt = RawClient()
        await nxt.connect(app_server.url, app_server.mint("pt3", "patient", room=rid))
        assert "participant" in await nxt.request("join")  # not room_full
        await nxt.close()
    finally:
        await doctor.close()


async def test_a_client_sent_disconnect_event_changes_nothing(
    app_server: ServerHandle, raw: list[RawSocket]
) -> None:
    # before: the others saw participant.left and the REST view dropped it, while its socket
    # stayed in the room receiving chat and presence: an invisible listener
    room = await app_server.create_room()
    rid = room["id"]
    doctor = await joined_doctor(app_server, rid)
    try:
        s = socket_for(app_server, raw)
        await s.open(app_server.mint("pt", "patient", room=rid))
        await s.call(1, "join", {})
        reply = (await s.call(2, "disconnect", "io client disconnect"))[0]
        assert reply["error"]["code"] == "reserved_event"
        reply = (await s.call(3, "*", {}))[0]
        assert reply["error"]["code"] == "reserved_event"
        assert await participants(app_server, rid) == ["dr", "pt"]
        # it is still a participant, seen as one: its chat goes out under its name
        said = doctor.expect("chat.message")
        assert (await s.call(4, "chat.send", {"text": "still here"}))[0]["ok"] is True
        assert (await asyncio.wait_for(said, WAIT))["identity"] == "pt"
        # the doctor's socket delivers in order: a participant.left sent for the reserved
        # events would have arrived before this chat message
        assert doctor.seen("participant.left") == []
    finally:
        await doctor.close()


async def test_every_handler_takes_exactly_its_arguments(
    app_server: ServerHandle, raw: list[RawSocket]
) -> None:
    # before: extra arguments ended in a TypeError traceback and no ack
    room = await app_server.create_room()
    s = socket_for(app_server, raw)
    await s.open(app_server.mint("dr", "doctor", room=room["id"]))
    await s.call(1, "join", {})
    reply = (await s.call(2, "chat.send", {"text": "a"}, {"text": "b"}))[0]
    assert reply["error"]["code"] == "extra_arguments"
    reply = (await s.call(3, "x" * 10_000, {}))[0]
    assert reply["error"]["code"] == "malformed_event"
    assert len(reply["error"]["message"]) < 200
    assert (await s.call(4, "chat.send", {"text": "fine"}))[0]["ok"] is True


async def test_an_offer_carries_at_most_max_tracks_sections(app_server: ServerHandle) -> None:
    # before: any number of sections (250 froze the loop for 0.5-2.9 s in aiortc)
    room = await app_server.create_room()
    doctor = await joined_doctor(app_server, room["id"])
    try:
        for sdp in (sdp_with(9), sdp_with(250), sdp_with(9, newline="\r")):
            reply = await doctor.request("publish.offer", {"sdp": sdp, "type": "offer"})
            assert reply["error"]["code"] == "too_many_tracks", reply
        reply = await doctor.request("publish.offer", {"sdp": sdp_with(8), "type": "offer"})
        assert reply["type"] == "answer"
    finally:
        await doctor.close()


@pytest.fixture
async def tight_server(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    settings = Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        offers_per_minute="3",
        max_tracks_per_participant="2",
        allowed_origins="https://portal.example.org",
    )
    async for handle in _serve(settings, media=NullMediaEngine()):
        yield handle


async def test_offers_per_minute_are_capped(tight_server: ServerHandle) -> None:
    room = await tight_server.create_room()
    doctor = await joined_doctor(tight_server, room["id"])
    try:
        offer = {"sdp": sdp_with(2), "type": "offer"}
        for _ in range(3):
            assert (await doctor.request("publish.offer", offer))["type"] == "answer"
        reply = await doctor.request("publish.offer", offer)
        assert reply["error"]["code"] == "rate_limited"
        reply = await doctor.request("publish.offer", {"sdp": sdp_with(3), "type": "offer"})
        assert reply["error"]["code"] == "too_many_tracks"
    finally:
        await doctor.close()


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


async def test_binary_packets_are_refused_and_never_buffered(
    app_server: ServerHandle, raw: list[RawSocket]
) -> None:
    # before: a header announcing attachments made the server keep every binary frame that
    # followed (40 MiB sent, +39 MiB RSS)
    room = await app_server.create_room()
    s = socket_for(app_server, raw)
    await s.open(app_server.mint("dr", "doctor", room=room["id"]))
    await s.call(1, "join", {})
    await s.send('451-7["chat.send",{"_placeholder":true,"num":0}]')
    ack = await s.receive(lambda f: f.startswith("437["))
    assert '"binary_not_supported"' in ack
    await s.send('45999-["chat.send",{"_placeholder":true,"num":0}]')
    chunk = b"\x00" * (200 * 1024)
    before = rss_bytes()
    for _ in range(100):  # 20 MiB
        await s.send(chunk)
    await s.send("b" + "A" * 1000)  # base64 binary, engine.io style
    # still served, and nothing kept
    assert (await s.call(2, "chat.send", {"text": "after"}))[0]["ok"] is True
    assert rss_bytes() - before < 8 * 1024 * 1024


BAD_FRAMES = [
    '42["chat.send",{"text":"a"},1,2,3]',  # extra arguments
    '42["*",{}]',
    '42["connect"]',  # argument-less connect
    '42["disconnect"]',
    "42[",  # malformed Socket.IO
    "42{}",
    '42"connect"',
    "4{}",
    "4",
    "49",
    "4-1",
    "",  # malformed Engine.IO
    "x",
    "9",
    "b!!!",
    '452-["chat.send"]',
    '44{"message":"x"}',
    '40/other,{"token":"x"}',
    '40{"token":"x"}',  # a second CONNECT of the connected namespace
    "41/nowhere,",
    "43999[1]",
]


async def test_bad_frames_are_one_line_each_kind_never_a_traceback(
    app_server: ServerHandle, raw: list[RawSocket], caplog: pytest.LogCaptureFixture
) -> None:
    # before: 10-20 lines of traceback each (32,000 lines from 10,000 messages)
    room = await app_server.create_room()
    rid = room["id"]
    doctor = await joined_doctor(app_server, rid)
    try:
        s = socket_for(app_server, raw)
        await s.open(app_server.mint("pt", "patient", room=rid))
        await s.call(1, "join", {})
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="signaling")
        caplog.set_level(logging.DEBUG, logger="vidconsult")
        for _ in range(20):
            for frame in BAD_FRAMES:
                await s.send(frame)
        assert (await s.call(2, "chat.send", {"text": "alive"}))[0]["ok"] is True
        assert await participants(app_server, rid) == ["dr", "pt"]
        assert doctor.seen("participant.left") == []
        records = [r for r in caplog.records if r.levelno >= logging.INFO]
        assert all(r.exc_info is None for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert "Traceback" not in caplog.text
        # throttled: one line per kind, not one per frame
        assert len(records) <= 20, [r.getMessage() for r in records]
        status, text = await app_server.api("GET", "/metrics")
        for kind in ("reserved_event", "extra_arguments", "malformed_packet", "malformed_frame"):
            assert f'kind="{kind}",source="signaling"' in text, kind
    finally:
        await doctor.close()


async def test_pages_of_other_origins_may_not_connect(
    tight_server: ServerHandle, raw: list[RawSocket]
) -> None:
    # before: cors_allowed_origins=[] turned the check off; any page could connect
    room = await tight_server.create_room()
    token = tight_server.mint("dr", "doctor", room=room["id"])
    for origin in ("https://evil.example", "null", tight_server.url.replace("127.0.0.1", "x")):
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await socket_for(tight_server, raw).open(token, origin=origin)
    for origin in (tight_server.url, "https://portal.example.org", None):
        reply = await socket_for(tight_server, raw).open(token, origin=origin)
        assert reply.startswith("40"), (origin, reply)
    localhost = tight_server.url.replace("127.0.0.1", "localhost")
    assert (await socket_for(tight_server, raw).open(token, origin=localhost)).startswith("40")


def test_own_origins_of_a_wildcard_listener_are_its_addresses_and_loopback_names() -> None:
    from vidconsult.addresses import normalize_origin, own_origins, parse_origins

    got = own_origins("https", 8443, "0.0.0.0", ["192.168.1.5", "fd00::2"], ["ward-pc"])
    assert got == [
        "https://192.168.1.5:8443",
        "https://127.0.0.1:8443",
        "https://localhost:8443",
        "https://[::1]:8443",
        "https://ward-pc:8443",
    ]
    # a specific address: that one only (the remote-machine browser test's veth address)
    assert own_origins("https", 9000, "10.99.0.1", ["10.99.0.1", "192.168.1.5"]) == [
        "https://10.99.0.1:9000"
    ]
    assert normalize_origin("HTTPS://Consult.Example.org:443/") == "https://consult.example.org"
    assert parse_origins(" https://a.example , http://b.example:8080") == [
        "https://a.example",
        "http://b.example:8080",
    ]
    assert parse_origins("*") == ["*"]
    for bad in ("consult.example.org", "ftp://x", "https://a.example/path"):
        with pytest.raises(ValueError, match="allowed-origins"):
            parse_origins(bad)
    with pytest.raises(ValueError, match="allowed-origins"):
        Settings.from_env({"VIDCONSULT_ALLOWED_ORIGINS": "consult.example.org"})


async def test_a_message_over_the_size_cap_closes_only_that_connection(
    app_server: ServerHandle, raw: list[RawSocket], caplog: pytest.LogCaptureFixture
) -> None:
    room = await app_server.create_room()
    doctor = await joined_doctor(app_server, room["id"])
    try:
        s = socket_for(app_server, raw)
        await s.open(app_server.mint("pt", "patient", room=room["id"]))
        big = "x" * (300 * 1024)  # over the 256 KiB default
        await s.send('42["chat.send",{"text":"' + big + '"}]')
        with pytest.raises(ConnectionError):
            await s.receive(timeout=5)
        assert (await doctor.request("chat.send", {"text": "unaffected"}))["ok"] is True
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    finally:
        await doctor.close()


async def test_refused_handshakes_are_counted_not_logged_as_errors(
    app_server: ServerHandle, raw: list[RawSocket], caplog: pytest.LogCaptureFixture
) -> None:
    # before: python-engineio logged each kind at ERROR, twice (its own stream handler too)
    caplog.set_level(logging.INFO)
    base = app_server.url + "/socket.io/?EIO=4&transport="
    for _ in range(3):
        async with app_server.session.get(base + "polling") as resp:  # WebSocket only
            assert resp.status == 400
        async with app_server.session.post(base + "polling&sid=nope", data=b"4" * 100) as resp:
            assert resp.status == 400
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await socket_for(app_server, raw).open(origin="https://evil.example")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    status, text = await app_server.api("GET", "/metrics")
    assert 'vidconsult_rejected_total{kind="handshake",source="signaling"} 6.0' in text
    assert 'vidconsult_rejected_total{kind="origin",source="signaling"} 3.0' in text


@pytest.fixture
async def join_limited_server(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    settings = Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        join_rate_account="3",
        join_rate_ip="5",
    )
    async for handle in _serve(settings, media=NullMediaEngine()):
        yield handle


async def test_joins_are_rate_limited_per_participant_and_per_address(
    join_limited_server: ServerHandle, raw: list[RawSocket]
) -> None:
    server = join_limited_server
    room = await server.create_room()
    token = server.mint("pt", "patient", room=room["id"])
    for _ in range(3):  # a page load and two reloads
        s = socket_for(server, raw)
        assert (await s.open(token)).startswith("40")
        await s.close()
    refused = await socket_for(server, raw).open(token)
    assert refused.startswith("44"), refused
    error = json.loads(refused[2:])
    assert error["data"]["code"] == "rate_limited" and error["data"]["retry_after"] >= 1, error
    # another participant from the same address has buckets of its own, until the address's
    other = server.mint("dr", "doctor", room=room["id"])
    assert (await socket_for(server, raw).open(other)).startswith("40")
    assert (await socket_for(server, raw).open(other)).startswith("40")
    refused = await socket_for(server, raw).open(server.mint("ex", "expert", room=room["id"]))
    assert json.loads(refused[2:])["data"]["code"] == "rate_limited", refused
    assert 'kind="rate_limited"' in await (await server.session.get(f"{server.url}/metrics")).text()
