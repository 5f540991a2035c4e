"""Media prepared on the pre-join step (docs/protocol.md, "Prepare"): the real server (REST,
Socket.IO, the aiortc media engine) and a prepared participant made of real aiortc peer
connections over loopback, so that ICE and DTLS really come up before the join.

The rules held here: before `join`, the prepared participant is not listed, nobody is told of
it, it sends nothing (an offer that would send is refused) and receives nothing; `join` takes
its connections over (no new ICE/DTLS) and only then do media flow (at once, on a spare slot
negotiated ahead: before the next subscribe offer is even answered); a token revoked or expired
before the click is refused at the click, a waiting-room participant cannot prepare, and
prepared connections that never join are dropped after the timeout or when the socket closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import ServerHandle
from tests.sio import RawClient
from vidconsult.app import MEDIA
from vidconsult.app_keys import EVENTS
from vidconsult.client import RoomClient
from web.keys import REVOCATIONS

WAIT = 20.0


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll a state the server reaches on its own (a timer, a closed socket; nothing to
    await from outside the server)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


class Prepared:
    """A participant on the pre-join step: a socket and two real peer connections, made the
    way the room page makes them (publish sections inactive, no track)."""

    def __init__(self) -> None:
        self.sio = RawClient()
        self.publish = RTCPeerConnection()
        self.subscribe = RTCPeerConnection()
        self.audio = self.publish.addTransceiver("audio", direction="inactive")
        self.video = self.publish.addTransceiver("video", direction="inactive")
        self.received: list[Any] = []
        self.first_offer = ""
        self.subscribe.on("track", self.received.append)

    async def prepare(self, url: str, token: str) -> dict[str, Any]:
        await self.sio.connect(url, token)
        reply = await self.sio.request("prepare")
        if "error" in reply:
            return dict(reply)
        offer = reply["subscribe"]
        self.first_offer = offer["sdp"]
        await self.subscribe.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await self.subscribe.setLocalDescription(await self.subscribe.createAnswer())
        ack = await self.sio.request(
            "subscribe.answer", {"sdp": self.subscribe.localDescription.sdp, "type": "answer"}
        )
        assert ack == {"ok": True}, ack
        await self.publish.setLocalDescription(await self.publish.createOffer())
        answer = await self.sio.request(
            "publish.offer", {"sdp": self.publish.localDescription.sdp, "type": "offer"}
        )
        assert "sdp" in answer, answer
        await self.publish.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return dict(reply)

    def connected(self) -> bool:
        return self.publish.connectionState == self.subscribe.connectionState == "connected"

    async def send_camera(self) -> dict[str, Any]:
        """What the page does at the click, after `join`: the camera goes into the prepared
        sections and the publish connection is offered again (same transport)."""
        self.video.sender.replaceTrack(VideoStreamTrack())
        self.audio.sender.replaceTrack(AudioStreamTrack())
        self.video.direction = self.audio.direction = "sendonly"
        await self.publish.setLocalDescription(await self.publish.createOffer())
        answer = await self.sio.request(
            "publish.offer",
            {
                "sdp": self.publish.localDescription.sdp,
                "type": "offer",
                "sources": {self.audio.mid: "microphone", self.video.mid: "camera"},
            },
        )
        assert "sdp" in answer, answer
        await self.publish.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return dict(answer)

    async def answer_next_offer(self) -> dict[str, Any]:
        offer = await asyncio.wait_for(self.sio.expect("subscribe.offer"), WAIT)
        await self.subscribe.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await self.subscribe.setLocalDescription(await self.subscribe.createAnswer())
        ack = await self.sio.request(
            "subscribe.answer", {"sdp": self.subscribe.localDescription.sdp, "type": "answer"}
        )
        assert ack == {"ok": True}, ack
        return dict(offer)

    async def rtp_in(self) -> int:
        stats = await self.subscribe.getStats()
        return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")

    async def close(self) -> None:
        await self.sio.close()
        await self.publish.close()
        await self.subscribe.close()


@pytest.fixture
async def prepared() -> AsyncIterator[Callable[[], Prepared]]:
    made: list[Prepared] = []

    def make() -> Prepared:
        made.append(Prepared())
        return made[-1]

    yield make
    for p in made:
        await p.close()


async def test_prepared_is_connected_but_nobody_sees_it_until_the_click(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    rid = (await live_server.create_room("Consult"))["id"]
    doctor = RoomClient(live_server.url, live_server.mint("dr-li", "doctor", room=rid))
    events: list[tuple[str, dict[str, Any]]] = []

    async def record(name: str, data: dict[str, Any]) -> None:
        events.append((name, data))

    live_server.app[EVENTS].subscribe(record)
    try:
        await doctor.connect()
        await doctor.publish(VideoStreamTrack(), AudioStreamTrack())
        patient = prepared()
        reply = await patient.prepare(
            live_server.url, live_server.mint("pt-wang", "patient", room=rid)
        )
        assert reply["subscribe"]["type"] == "offer"
        assert isinstance(reply["ice_servers"], list)
        # ICE and DTLS of both connections are done before the click
        await until(patient.connected)

        # nobody sees it: not listed, nobody told, nothing published about it
        status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
        assert status == 200 and [p["identity"] for p in view["participants"]] == ["dr-li"]
        names = {e for e, _ in doctor.events}
        assert not names & {"participant.joined", "participant.reconnected"}, doctor.events
        assert not [d for e, d in events if d.get("identity") == "pt-wang"], events
        # it receives nothing: no packet came in, though the doctor has been sending all along;
        # the offer's spare slots (sendonly, fed by nothing) name nobody: no identity, no track
        media = live_server.app[MEDIA]
        assert await patient.rtp_in() == 0
        sdp = reply["subscribe"]["sdp"]
        sids = [t.sid for _, t in media.published_tracks(rid)]
        assert len(sids) == 2 and not [w for w in ("dr-li", "pt-wang", *sids) if w in sdp], sdp
        assert sorted(t.kind for t in patient.received) == ["audio", "video"]
        # it cannot send: an offer with a sending section is refused before the join
        patient.video.sender.replaceTrack(VideoStreamTrack())
        patient.video.direction = "sendonly"
        offer = await patient.publish.createOffer()
        refused = await patient.sio.request("publish.offer", {"sdp": offer.sdp, "type": "offer"})
        assert refused["error"]["code"] == "not_joined", refused
        patient.video.direction = "inactive"
        assert [i for i, _ in media.published_tracks(rid)] == ["dr-li", "dr-li"]
        # other requests still need the join
        chat = await patient.sio.request("chat.send", {"text": "hello"})
        assert chat["error"]["code"] == "not_joined", chat

        # the click: join takes the prepared connections over
        offered = patient.sio.expect("subscribe.offer")
        joined = await patient.sio.request("join", {"prepared": True})
        assert joined["prepared"] is True, joined
        assert [p["identity"] for p in joined["participants"]] == ["dr-li"]
        await doctor.wait_event("participant.joined", lambda d: d["participant"]["identity"])
        offer = await asyncio.wait_for(offered, WAIT)
        kinds = sorted(t["kind"] for t in offer["tracks"].values())
        assert kinds == ["audio", "video"] and {
            t["publisher"] for t in offer["tracks"].values()
        } == {"dr-li"}
        await patient.subscribe.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await patient.subscribe.setLocalDescription(await patient.subscribe.createAnswer())
        await patient.sio.request(
            "subscribe.answer", {"sdp": patient.subscribe.localDescription.sdp, "type": "answer"}
        )
        video = next(t for t in patient.received if t.kind == "video")
        frame = await asyncio.wait_for(video.recv(), WAIT)
        assert frame.width > 0
        await patient.send_camera()
        theirs = await doctor.wait_for_track("pt-wang", "video")
        assert (await theirs.next_frame(timeout=WAIT)).width > 0
    finally:
        await doctor.close()


async def test_a_token_revoked_before_the_click_is_refused_at_the_click(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    rid = (await live_server.create_room("Consult"))["id"]
    token = live_server.mint("pt-wang", "patient", room=rid)
    patient = prepared()
    await patient.prepare(live_server.url, token)
    media = live_server.app[MEDIA]
    assert media.prepared_count(rid) == 1
    claims = live_server.signer.verify(token, now=datetime.now(UTC))
    await live_server.app[REVOCATIONS].revoke_token(
        claims.token_id, claims.expires_at, "removed by the test"
    )
    refused = await patient.sio.request("join")
    assert refused["error"]["code"] == "token_revoked", refused
    assert media.prepared_count(rid) == 0
    status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
    assert view["participants"] == []


async def test_a_token_that_expired_before_the_click_is_refused(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    rid = (await live_server.create_room("Consult"))["id"]
    patient = prepared()
    await patient.prepare(live_server.url, live_server.mint("pt", "patient", room=rid, ttl=2))
    media = live_server.app[MEDIA]
    assert media.prepared_count(rid) == 1
    await asyncio.sleep(2.1)  # the token's own lifetime: nothing to await
    refused = await patient.sio.request("join")
    assert refused["error"]["code"] == "token_expired", refused
    assert media.prepared_count(rid) == 0


@pytest.mark.settings(prepare_timeout_seconds=3.0)  # prepare itself must fit in it
async def test_prepared_media_without_a_click_is_dropped_after_the_timeout(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    rid = (await live_server.create_room("Consult"))["id"]
    patient = prepared()
    await patient.prepare(live_server.url, live_server.mint("pt", "patient", room=rid))
    media = live_server.app[MEDIA]
    assert media.prepared_count(rid) == 1
    await until(lambda: media.prepared_count(rid) == 0, timeout=10)
    # the click still joins, on new connections
    joined = await patient.sio.request("join", {"prepared": True})
    assert joined["prepared"] is False, joined
    stale = await patient.sio.request("subscribe.answer", {"sdp": "v=0", "type": "answer"})
    assert "error" in stale


async def test_prepared_media_goes_with_the_socket(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    rid = (await live_server.create_room("Consult"))["id"]
    patient = prepared()
    await patient.prepare(live_server.url, live_server.mint("pt", "patient", room=rid))
    media = live_server.app[MEDIA]
    assert media.prepared_count(rid) == 1
    await patient.sio.close()
    await until(lambda: media.prepared_count(rid) == 0)


async def test_the_waiting_room_cannot_prepare(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    rid = (await live_server.create_room("Consult", lobby=True))["id"]
    patient = prepared()
    reply = await patient.prepare(live_server.url, live_server.mint("pt", "patient", room=rid))
    assert reply["error"]["code"] == "lobby_required", reply
    assert live_server.app[MEDIA].prepared_count(rid) == 0
    # a host (admin grant) does not wait, and may prepare
    host = prepared()
    reply = await host.prepare(live_server.url, live_server.mint("dr", "doctor", room=rid))
    assert reply["subscribe"]["type"] == "offer"


async def test_prepare_after_join_is_refused(live_server: ServerHandle) -> None:
    rid = (await live_server.create_room("Consult"))["id"]
    client = RawClient()
    try:
        await client.connect(live_server.url, live_server.mint("pt", "patient", room=rid))
        assert "participant" in await client.request("join")
        again = await client.request("prepare")
        assert again["error"]["code"] == "already_joined", again
        # a prepared-only request on a joined session takes the joined path (no_offer here)
        answer = await client.request("subscribe.answer", {"sdp": "v=0", "type": "answer"})
        assert "error" in answer
    finally:
        await client.close()


async def test_the_join_carries_the_publish_offer(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    """The click in one request: `join` with the publish offer of the prepared connection,
    answered in the reply; the others get the new tracks at once."""
    rid = (await live_server.create_room("Consult"))["id"]
    doctor = RoomClient(live_server.url, live_server.mint("dr-li", "doctor", room=rid))
    try:
        await doctor.connect()
        patient = prepared()
        await patient.prepare(live_server.url, live_server.mint("pt-wang", "patient", room=rid))
        await until(patient.connected)
        patient.video.sender.replaceTrack(VideoStreamTrack())
        patient.video.direction = "sendonly"
        await patient.publish.setLocalDescription(await patient.publish.createOffer())
        offer = {
            "sdp": patient.publish.localDescription.sdp,
            "type": "offer",
            "sources": {patient.video.mid: "camera"},
        }
        joined = await patient.sio.request("join", {"prepared": True, "publish": offer})
        assert joined["prepared"] is True and joined["publish"]["type"] == "answer", joined
        await patient.publish.setRemoteDescription(
            RTCSessionDescription(joined["publish"]["sdp"], "answer")
        )
        theirs = await doctor.wait_for_track("pt-wang", "video")
        assert (await theirs.next_frame(timeout=WAIT)).width > 0
    finally:
        await doctor.close()


async def test_a_publish_offer_with_an_unprepared_join_is_not_applied(
    live_server: ServerHandle,
) -> None:
    rid = (await live_server.create_room("Consult"))["id"]
    client = RawClient()
    pc = RTCPeerConnection()
    try:
        await client.connect(live_server.url, live_server.mint("pt", "patient", room=rid))
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
        joined = await client.request("join", {"prepared": True, "publish": offer})
        assert joined["prepared"] is False and "publish" not in joined, joined
        assert live_server.app[MEDIA].published_tracks(rid) == []
    finally:
        await client.close()
        await pc.close()


async def test_the_first_publisher_arrives_on_a_spare_slot_before_any_answer(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    """The prepare offer's spare slots (one audio, one video): at the join, the publisher in
    the room takes them, and its media reach the joiner at once: the subscribe offer that maps
    them is not answered here at all (issue 15: the answer is off the path to the first
    picture). Before the join, nothing came on them."""
    rid = (await live_server.create_room("Consult"))["id"]
    doctor = RoomClient(live_server.url, live_server.mint("dr-li", "doctor", room=rid))
    try:
        await doctor.connect()
        await doctor.publish(VideoStreamTrack(), AudioStreamTrack())
        patient = prepared()
        await patient.prepare(live_server.url, live_server.mint("pt-wang", "patient", room=rid))
        await until(patient.connected)
        spare = {t.kind: t for t in patient.received}
        assert sorted(spare) == ["audio", "video"] and await patient.rtp_in() == 0
        mids = {
            tr.receiver.track.kind: tr.mid
            for tr in patient.subscribe.getTransceivers()
            if tr.receiver.track in patient.received
        }

        offered = patient.sio.expect("subscribe.offer")
        joined = await patient.sio.request("join", {"prepared": True})
        assert joined["prepared"] is True, joined
        offer = await asyncio.wait_for(offered, WAIT)
        # the offer maps the spare slots to the doctor's tracks; it stays unanswered
        assert {mid: t["publisher"] for mid, t in offer["tracks"].items()} == {
            mids["audio"]: "dr-li",
            mids["video"]: "dr-li",
        }, (offer["tracks"], mids)
        frame = await asyncio.wait_for(spare["video"].recv(), WAIT)
        assert frame.width > 0
        # still the prepare offer: the join's subscribe offer was never applied
        assert patient.subscribe.remoteDescription.sdp == patient.first_offer
    finally:
        await doctor.close()


async def test_a_publisher_on_another_codec_gets_a_section_of_its_own(
    live_server: ServerHandle, prepared: Callable[[], Prepared]
) -> None:
    """The spare video slot is negotiated for VP8: an H.264 publisher's video cannot go on it
    (the passthrough does not transcode), so it gets a new section, which carries media once
    the joiner has answered the offer, as without a spare slot."""
    rid = (await live_server.create_room("Consult"))["id"]
    doctor = RawClient()
    pc = RTCPeerConnection()
    try:
        await doctor.connect(live_server.url, live_server.mint("dr-li", "doctor", room=rid))
        assert "participant" in await doctor.request("join")
        sending = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "H264"]
        sending.setCodecPreferences(h264[:1])
        await pc.setLocalDescription(await pc.createOffer())
        answer = await doctor.request(
            "publish.offer", {"sdp": pc.localDescription.sdp, "type": "offer"}
        )
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        media = live_server.app[MEDIA]
        [(_, track)] = media.published_tracks(rid)
        assert track.codec.lower() == "video/h264", track

        patient = prepared()
        await patient.prepare(live_server.url, live_server.mint("pt-wang", "patient", room=rid))
        await until(patient.connected)
        spare = {t.kind: t for t in patient.received}
        offered = patient.sio.expect("subscribe.offer")  # it may come before the join reply
        joined = await patient.sio.request("join", {"prepared": True})
        assert joined["prepared"] is True, joined
        offer = await asyncio.wait_for(offered, WAIT)
        await patient.subscribe.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await patient.subscribe.setLocalDescription(await patient.subscribe.createAnswer())
        ack = await patient.sio.request(
            "subscribe.answer", {"sdp": patient.subscribe.localDescription.sdp, "type": "answer"}
        )
        assert ack == {"ok": True}, ack
        [(mid, info)] = offer["tracks"].items()
        assert info["publisher"] == "dr-li" and info["kind"] == "video", offer["tracks"]
        spare_mids = {
            tr.mid
            for tr in patient.subscribe.getTransceivers()
            if tr.receiver.track in spare.values()
        }
        assert mid not in spare_mids, (mid, spare_mids)
        video = next(t for t in patient.received if t.kind == "video" and t is not spare["video"])
        assert (await asyncio.wait_for(video.recv(), WAIT)).width > 0
    finally:
        await doctor.close()
        await pc.close()
