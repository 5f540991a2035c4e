"""A lecture spanning two nodes (issue 12, part 4): two real servers in this process, each with
its own aiortc engine; the presenter and one listener join node A through signaling
(vidconsult/client.py); node B asks A for the room over the internal endpoint (cluster
secret) and fans the presenter's tracks out to its own audience (plain aiortc peers on B's
engine), over real UDP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack
from aiortc.rtp import (
    RTCP_PSFB_APP,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media.downstream import IdleTrack
from media.engine import AiortcMediaEngine
from tests.helpers import SECRET, ServerHandle, served
from tests.media.conftest import client_pc
from tests.media.encoded import VIDEO_RATE, video_clip
from vidconsult.app import MEDIA
from vidconsult.client import RoomClient
from vidconsult.config import Settings
from vidconsult.ports import MediaListener, PublishedTrack, SessionDescription, TrackRef
from web.keys import ROOMS
from web.relay_api import COURIER, PREFIX, SECRET_HEADER

CLUSTER = "c" * 40
TIMEOUT = 20.0


@contextlib.asynccontextmanager
async def node(tmp: Path, name: str, secret: str = CLUSTER) -> AsyncIterator[ServerHandle]:
    settings = Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=tmp / name,
        secret=SECRET,
        node_id=name,
        cluster_secret=secret,
    )
    async with served(settings) as handle:
        yield handle


class Audience(MediaListener):
    """Node B's listener in these tests: the core's, plus what B's signaling will do once the
    multi-node signaling relay lands: subscribe B's audience to every track published on B
    (the relayed presenter's) and answer their offers."""

    def __init__(self, engine: AiortcMediaEngine, inner: MediaListener, room: str) -> None:
        self.engine = engine
        self.inner = inner
        self.room = room
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.tracks: dict[str, dict[str, MediaStreamTrack]] = {}  # identity -> kind -> track
        self.published: list[tuple[str, PublishedTrack]] = []
        self.ended: list[str] = []
        self.changed = asyncio.Event()

    async def join(self, identity: str) -> None:
        pc = client_pc()
        self.pcs[identity] = pc
        self.tracks[identity] = {}

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tracks[identity][track.kind] = track
            self.changed.set()

        await self.engine.add_participant(
            self.room, identity, can_publish=False, can_subscribe=True
        )
        for publisher, track in self.engine.published_tracks(self.room):
            await self.engine.subscribe(self.room, identity, publisher, track.sid)

    async def leave(self, identity: str) -> None:
        await self.engine.remove_participant(self.room, identity)
        await self.pcs.pop(identity).close()

    async def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        await self.inner.on_track_published(room_id, identity, track)
        self.published.append((identity, track))
        for member in list(self.pcs):
            await self.engine.subscribe(room_id, member, identity, track.sid)
        self.changed.set()

    async def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        await self.inner.on_track_ended(room_id, identity, track_sid)
        self.ended.append(track_sid)
        self.changed.set()

    async def on_subscriber_offer(
        self,
        room_id: str,
        identity: str,
        offer: SessionDescription,
        tracks: Mapping[str, TrackRef],
    ) -> None:
        pc = self.pcs.get(identity)
        if pc is None:
            await self.inner.on_subscriber_offer(room_id, identity, offer, tracks)
            return
        if pc.signalingState == "closed":  # left meanwhile
            return
        await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
        await pc.setLocalDescription(await pc.createAnswer())
        local = pc.localDescription
        await self.engine.subscriber_answer(
            room_id, identity, SessionDescription(local.sdp, local.type)
        )

    async def on_connection_state(
        self, room_id: str, identity: str, direction: str, state: str
    ) -> None:
        await self.inner.on_connection_state(room_id, identity, direction, state)

    async def until(self, predicate: Any, timeout: float = TIMEOUT) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    async def close(self) -> None:
        for pc in self.pcs.values():
            await pc.close()


async def internal(
    handle: ServerHandle, method: str, path: str, body: Any = None, secret: str | None = CLUSTER
) -> tuple[int, Any]:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with handle.session.request(
        method, handle.url + PREFIX + path, json=body, headers=headers
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def wait_for(predicate: Any, timeout: float = TIMEOUT) -> None:
    """For state on the far node that no event of this process announces (HTTP-side state)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def leg_packets(state: dict[str, Any], kind: str) -> int:
    return sum(t["packets"] for leg in state["legs"] for t in leg["tracks"] if t["kind"] == kind)


async def test_lecture_relayed_once_to_a_second_node(tmp_path: Path) -> None:
    async with node(tmp_path, "node-a") as a, node(tmp_path, "node-b") as b:
        room = (await a.create_room("Grand rounds", kind="lecture"))["id"]
        presenter = RoomClient(a.url, a.mint("dr-zhou", "expert", room=room))
        local = RoomClient(a.url, a.mint("student-a", "observer", room=room))
        engine_a: AiortcMediaEngine = a.app[MEDIA]  # type: ignore[assignment]
        engine_b: AiortcMediaEngine = b.app[MEDIA]  # type: ignore[assignment]
        audience = Audience(engine_b, b.app[ROOMS], room)
        engine_b.set_listener(audience)
        try:
            await presenter.connect()
            await local.connect()
            sids = await presenter.publish(VideoStreamTrack(), AudioStreamTrack())
            local_video = await local.wait_for_track("dr-zhou", "video")
            await local_video.next_frame(timeout=TIMEOUT)

            # B has audience for the room: one audience member first, then two more
            await audience.join("student-b1")
            publishers = await b.app[COURIER].join(a.url, room, b.url)
            assert publishers == ["dr-zhou"]
            await audience.until(lambda: len(audience.published) == 2)
            assert {p for p, _ in audience.published} == {"dr-zhou"}
            for name in ("student-b2", "student-b3"):
                await audience.join(name)
            names = ["student-b1", "student-b2", "student-b3"]
            await audience.until(lambda: all(len(audience.tracks[n]) == 2 for n in names))
            for n in names:  # each decodes the presenter's video and audio
                frame = await asyncio.wait_for(audience.tracks[n]["video"].recv(), TIMEOUT)
                assert frame.width == 640 and frame.height == 480
                for _ in range(5):
                    sound = await asyncio.wait_for(audience.tracks[n]["audio"].recv(), TIMEOUT)
                    assert sound.sample_rate == 48000

            # one copy crosses: one leg, and A's video source feeds two downstreams (the
            # local listener and the leg), not four
            status, state = await internal(a, "GET", "")
            assert status == 200, state
            assert [(x["edge"], x["publisher"]) for x in state["legs"]] == [("node-b", "dr-zhou")]
            video_sid = next(s for s in sids.values() if s in _video_sids(engine_a, room))
            source = engine_a._forwarder.source(video_sid)  # type: ignore[attr-defined]
            assert source is not None and len(source.downstreams) == 2
            # ... and as many packets as the local listener gets, over the same window
            local_link = _video_link(engine_a, room, "student-a")
            leg0, local0 = leg_packets(state, "video"), local_link()
            await local_video.wait_frames(local_video.frames + 60, timeout=TIMEOUT)
            _, state = await internal(a, "GET", "")
            sent_leg, sent_local = leg_packets(state, "video") - leg0, local_link() - local0
            assert sent_local >= 30
            assert 0.7 < sent_leg / sent_local < 1.4, (sent_leg, sent_local)
            _, state_b = await internal(b, "GET", "")
            assert state_b["relayed_in"] == [
                {"room_id": room, "publisher": "dr-zhou", "origin": "node-a"}
            ]

            # the leg's layer follows loss only: B's receiver sends A no REMB, while A's own
            # listener's receiver does (once its estimate is up: no event says when)
            def video_link(identity: str) -> dict[str, Any]:
                links = engine_a.subscriber_links(room, identity)
                return next(x for x in links if x["kind"] == "video")

            async def own_remb() -> bool:
                return video_link("student-a")["remb_kbps"] is not None

            await wait_for(own_remb)
            assert video_link("relay node-b dr-zhou")["remb_kbps"] is None

            # B's audience leaving does not disturb A's listener (no renegotiation, frames go on)
            offers_before, frames_before = _offers(local), local_video.frames
            await audience.leave("student-b2")
            await audience.join("student-b4")
            await audience.until(lambda: len(audience.tracks["student-b4"]) == 2)
            await asyncio.wait_for(audience.tracks["student-b4"]["video"].recv(), TIMEOUT)
            await local_video.wait_frames(frames_before + 10, timeout=TIMEOUT)
            assert _offers(local) == offers_before
            assert len(source.downstreams) == 2

            # the presenter leaves: the leg ends on A, the relayed publisher on B
            await presenter.leave()
            await audience.until(lambda: len(audience.ended) == 2)
            assert engine_b.published_tracks(room) == []
            _, state = await internal(a, "GET", "")
            assert state["legs"] == [] and state["edges"] == {room: ["node-b"]}
            # (B's tracks may end first by the leg's last offer or its closed connection;
            # the origin's "end" follows over HTTP)

            async def b_forgot() -> bool:
                _, state_b = await internal(b, "GET", "")
                return bool(state_b["relayed_in"] == [])

            await wait_for(b_forgot)

            # ... and coming back is relayed again (B's registration stays)
            back = RoomClient(a.url, a.mint("dr-zhou", "expert", room=room))
            try:
                await back.connect()
                await back.publish(VideoStreamTrack())
                await audience.until(lambda: len(audience.published) == 3)
                await audience.until(lambda: audience.tracks["student-b1"].get("video") is not None)
                _, state = await internal(a, "GET", "")
                assert len(state["legs"]) == 1
            finally:
                await back.close()
        finally:
            await presenter.close()
            await local.close()
            await audience.close()


def _video_sids(engine: AiortcMediaEngine, room: str) -> set[str]:
    return {t.sid for _, t in engine.published_tracks(room) if t.kind.value == "video"}


def _video_link(engine: AiortcMediaEngine, room: str, identity: str) -> Any:
    def packets() -> int:
        links = engine.subscriber_links(room, identity)
        return sum(x.get("packets", 0) for x in links if x["kind"] == "video")

    return packets


def _offers(client: RoomClient) -> int:
    return sum(1 for name, _ in client.events if name == "subscribe.offer")


async def test_internal_endpoints_refuse_bad_input(tmp_path: Path) -> None:
    async with node(tmp_path, "node-a") as a, node(tmp_path, "node-x", secret="") as x:
        edge = {"url": "http://127.0.0.1:9"}
        # no secret, a wrong one, a node without one: 403 with the reason
        status, body = await internal(a, "PUT", "/rooms/rm_1/edges/node-b", edge, secret=None)
        assert (status, body["error"]["code"]) == (403, "bad_cluster_secret")
        status, body = await internal(a, "PUT", "/rooms/rm_1/edges/node-b", edge, secret="x" * 40)
        assert (status, body["error"]["code"]) == (403, "bad_cluster_secret")
        status, body = await internal(x, "GET", "", secret=CLUSTER)
        assert (status, body["error"]["code"]) == (403, "cluster_disabled")
        # a participant's token is not the cluster secret
        token = a.mint("dr-zhou", "expert", room="rm_1")
        async with a.session.get(
            a.url + PREFIX, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 403
        # malformed ids and bodies: 400
        status, body = await internal(a, "PUT", "/rooms/rm_1/edges/-node-b", edge)
        assert (status, body["error"]["code"]) == (400, "invalid_node_id")
        status, body = await internal(a, "PUT", "/rooms/rm_1/edges/node-a", edge)
        assert (status, body["error"]["code"]) == (409, "same_node")  # itself
        status, body = await internal(a, "PUT", "/rooms/rm_1/edges/node-b", {"url": "ftp://x"})
        assert (status, body["error"]["code"]) == (400, "invalid_payload")
        offer = {"origin": "node-b", "publisher": "dr-zhou", "sdp": "v=0\r\ngarbage"}
        status, body = await internal(a, "POST", "/rooms/rm_1/offers", offer)
        assert (status, body["error"]["code"]) == (400, "invalid_sdp")
        status, body = await internal(
            a, "POST", "/rooms/rm_1/offers", offer | {"sources": {"0": "webcam"}}
        )
        assert (status, body["error"]["code"]) == (400, "invalid_payload")
        status, body = await internal(a, "POST", "/rooms/rm_1/offers", offer | {"origin": "node-a"})
        assert (status, body["error"]["code"]) == (409, "same_node")
        # nothing was left behind by the refused offers
        _, state = await internal(a, "GET", "")
        assert state == {
            "node_id": "node-a",
            "edges": {},
            "legs": [],
            "relayed_in": [],
            "audience": {},
        }
        assert a.app[MEDIA].published_tracks("rm_1") == []
        # removing what is not there is no error
        status, body = await internal(a, "DELETE", "/rooms/rm_1/edges/node-b")
        assert (status, body) == (200, {"removed": False})


async def test_offer_for_a_local_participant_conflicts(tmp_path: Path) -> None:
    async with node(tmp_path, "node-a") as a:
        engine: AiortcMediaEngine = a.app[MEDIA]  # type: ignore[assignment]
        await engine.add_participant("rm_1", "dr-zhou", can_publish=True, can_subscribe=True)
        pc = client_pc()
        try:
            pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"origin": "node-b", "publisher": "dr-zhou", "sdp": pc.localDescription.sdp}
            status, body = await internal(a, "POST", "/rooms/rm_1/offers", offer)
            assert (status, body["error"]["code"]) == (409, "identity_in_use")
        finally:
            await pc.close()


async def test_a_broken_leg_is_dropped_on_both_nodes_and_registering_again_restores_it(
    tmp_path: Path,
) -> None:
    async with node(tmp_path, "node-a") as a, node(tmp_path, "node-b") as b:
        room = (await a.create_room("Grand rounds", kind="lecture"))["id"]
        presenter = RoomClient(a.url, a.mint("dr-zhou", "expert", room=room))
        engine_a: AiortcMediaEngine = a.app[MEDIA]  # type: ignore[assignment]
        engine_b: AiortcMediaEngine = b.app[MEDIA]  # type: ignore[assignment]
        audience = Audience(engine_b, b.app[ROOMS], room)
        engine_b.set_listener(audience)
        try:
            await presenter.connect()
            await presenter.publish(VideoStreamTrack())
            await audience.join("student-b1")
            await b.app[COURIER].join(a.url, room, b.url)
            await audience.until(lambda: "video" in audience.tracks["student-b1"])
            await asyncio.wait_for(audience.tracks["student-b1"]["video"].recv(), TIMEOUT)

            # the leg's connection goes away without a word between the nodes
            leg = engine_a._rooms.get(room, "relay node-b dr-zhou")
            assert leg is not None and leg.subscriber is not None
            await leg.subscriber.pc.close()
            await audience.until(lambda: len(audience.ended) == 1)

            async def both_forgot() -> bool:
                _, state_a = await internal(a, "GET", "")
                _, state_b = await internal(b, "GET", "")
                return bool(state_a["legs"] == [] and state_b["relayed_in"] == [])

            await wait_for(both_forgot)
            assert engine_b.published_tracks(room) == []

            # B registers again: a new leg, and B's audience gets the presenter again
            assert await b.app[COURIER].join(a.url, room, b.url) == ["dr-zhou"]
            await audience.until(lambda: len(audience.published) == 2)
            _, state_a = await internal(a, "GET", "")
            assert len(state_a["legs"]) == 1
        finally:
            await presenter.close()
            await audience.close()


# --- a simulcast presenter: every layer crosses, the edge picks per listener ---

RIDS = ["q", "h", "f"]
SIZES = [(80, 60), (160, 120), (320, 240)]
RATES = [60_000, 240_000, 960_000]  # asked of the encoder; noise overshoots (rates())


def simulcast_offer(sdp: str) -> str:
    """A publish offer's sending video section says ``a=simulcast:send q;h;f`` as a browser's
    does (the rids' header extensions are offered by aiortc once the engine enabled them)."""
    out: list[str] = []
    video = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            video = line.startswith("m=video")
        out.append(line)
        if video and line == "a=sendonly":
            out += [f"a=rid:{rid} send" for rid in RIDS]
            out.append("a=simulcast:send " + ";".join(RIDS))
    return "\r\n".join(out) + "\r\n"


class SimulcastSender:
    """The browser's part of a simulcast publisher, on an aiortc publish connection: three
    VP8 encodings of one picture (``SIZES``, ``RATES``) in the negotiated video section, one
    SSRC each, the rid on every packet, 30 frames a second; a keyframe every second."""

    def __init__(self, pc: RTCPeerConnection, answer_sdp: str) -> None:
        self.pc = pc
        answer = aiortc_sdp.SessionDescription.parse(answer_sdp)
        video = next(m for m in answer.media if m.kind == "video")
        codec = video.rtp.codecs[0]
        assert codec.mimeType.lower() == "video/vp8", codec
        self.pt = codec.payloadType
        self.mid = video.rtp.muxId
        self.extensions = HeaderExtensionsMap()
        self.extensions.configure(video.rtp)
        self.clips = [
            video_clip("video/vp8", count=60, gop=30, size=size, bit_rate=rate)
            for size, rate in zip(SIZES, RATES, strict=True)
        ]
        self.ssrcs = [random.getrandbits(32) | 1 for _ in RIDS]
        self.seqs = [random.getrandbits(16) for _ in RIDS]
        self.picture_ids = [random.getrandbits(15) for _ in RIDS]
        self.task: asyncio.Task[None] | None = None

    def rates(self) -> list[float]:
        """bit/s of each layer as sent (payloads and headers)."""
        return [
            sum(len(f) + 12 for f in c.frames) * 8 * VIDEO_RATE / len(c.frames) for c in self.clips
        ]

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            await asyncio.sleep(max(0.0, start + n / VIDEO_RATE - loop.time()))
            dtls = next(t.sender.transport for t in self.pc.getTransceivers() if t.kind == "video")
            if dtls.state == "connected":
                for layer, clip in enumerate(self.clips):
                    await self._send(dtls, layer, clip.frames[n % len(clip.frames)], n * 3000)
            n += 1

    async def _send(self, dtls: Any, layer: int, frame: bytes, timestamp: int) -> None:
        payloads = Vp8Encoder._packetize(frame, self.picture_ids[layer])
        self.picture_ids[layer] = (self.picture_ids[layer] + 1) & 0x7FFF
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=self.pt,
                sequence_number=self.seqs[layer],
                timestamp=timestamp & 0xFFFFFFFF,
                ssrc=self.ssrcs[layer],
                payload=payload,
                marker=int(i == len(payloads) - 1),
            )
            self.seqs[layer] = (self.seqs[layer] + 1) & 0xFFFF
            packet.extensions.mid = self.mid
            packet.extensions.rtp_stream_id = RIDS[layer]
            await dtls._send_rtp(packet.serialize(self.extensions))


def say_remb(pc: RTCPeerConnection, bps: int) -> None:
    """The listener's link as its REMB tells it: every REMB its receivers send says ``bps``."""
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        send_rtcp = receiver._send_rtcp

        async def rewritten(packet: Any, send_rtcp: Any = send_rtcp) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                _, ssrcs = unpack_remb_fci(packet.fci)
                packet = RtcpPsfbPacket(
                    fmt=RTCP_PSFB_APP, ssrc=packet.ssrc, media_ssrc=0, fci=pack_remb_fci(bps, ssrcs)
                )
            await send_rtcp(packet)

        receiver._send_rtcp = rewritten  # type: ignore[method-assign]


async def frame_of_width(track: MediaStreamTrack, width: int) -> Any:
    async def first() -> Any:
        while True:
            frame = await track.recv()
            if frame.width == width:
                return frame

    return await asyncio.wait_for(first(), TIMEOUT)


async def test_simulcast_presenter_relays_every_layer_and_the_edge_picks_per_listener(
    tmp_path: Path,
) -> None:
    async with node(tmp_path, "node-a") as a, node(tmp_path, "node-b") as b:
        room = (await a.create_room("Grand rounds", kind="lecture"))["id"]
        presenter = RoomClient(
            a.url, a.mint("dr-zhou", "expert", room=room), sdp_filter=simulcast_offer
        )
        engine_a: AiortcMediaEngine = a.app[MEDIA]  # type: ignore[assignment]
        engine_b: AiortcMediaEngine = b.app[MEDIA]  # type: ignore[assignment]
        audience = Audience(engine_b, b.app[ROOMS], room)
        engine_b.set_listener(audience)
        camera = IdleTrack("video")  # the sender below writes the packets
        sender: SimulcastSender | None = None
        try:
            await presenter.connect()
            await presenter.publish(camera)
            assert presenter.publish_answer is not None
            assert "a=simulcast:recv q;h;f" in presenter.publish_answer
            assert presenter._pub is not None
            sender = SimulcastSender(presenter._pub, presenter.publish_answer)
            rates = sender.rates()
            assert rates[0] * 3 < rates[1] and rates[1] * 3 < rates[2], rates
            sender.start()

            # one listener on a good link, one on a thin one: its REMB says what fits the
            # lowest layer only (the estimate is up to REMB_SLACK over a REMB, media/layers.py)
            await audience.join("student-good")
            await audience.join("student-thin")
            await b.app[COURIER].join(a.url, room, b.url)
            names = ["student-good", "student-thin"]
            await audience.until(lambda: all("video" in audience.tracks[n] for n in names))
            say_remb(audience.pcs["student-good"], 20_000_000)
            say_remb(audience.pcs["student-thin"], int(rates[0] * 1.25))

            # each layer crosses once: the leg carries three video sections, one per layer
            _, state = await internal(a, "GET", "")
            (leg,) = state["legs"]
            assert [t["kind"] for t in leg["tracks"]] == ["video"] * 3
            video_sid = next(iter(_video_sids(engine_a, room)))
            source_a = engine_a._forwarder.source(video_sid)  # type: ignore[attr-defined]
            assert source_a is not None and source_a.layers == 3
            assert sorted(d.pinned for d in source_a.downstreams) == [0, 1, 2]

            # ... and on B they are ONE simulcast track of three layers, all arriving
            (edge_sid,) = _video_sids(engine_b, room)
            source_b = engine_b._forwarder.source(edge_sid)  # type: ignore[attr-defined]
            assert source_b is not None and source_b.layers == 3
            demux = source_b.ingress.simulcast
            assert demux is not None

            async def all_layers_in() -> bool:
                return all(s is not None for s in demux.layer_ssrc) and min(source_b.rates.bps) > 0

            await wait_for(all_layers_in)
            assert len(set(demux.layer_ssrc)) == 3

            # B's layer selector picks per listener: the thin link gets the lowest layer,
            # the good one the top, both decoded
            good = await frame_of_width(audience.tracks["student-good"]["video"], SIZES[2][0])
            thin = await frame_of_width(audience.tracks["student-thin"]["video"], SIZES[0][0])
            assert (good.height, thin.height) == (SIZES[2][1], SIZES[0][1])

            def layer(identity: str) -> Any:
                links = engine_b.subscriber_links(room, identity)
                return next(x for x in links if x["kind"] == "video")["layer"]

            assert (layer("student-good"), layer("student-thin")) == (2, 0)
            # no video paused for the thin listener, and the origin still sends one copy
            assert len(source_a.downstreams) == 3
        finally:
            if sender is not None:
                await sender.stop()
            await presenter.close()
            camera.stop()
            await audience.close()
