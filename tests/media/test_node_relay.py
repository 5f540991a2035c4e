"""A lecture spanning two nodes (issue 12, part 4): two real servers in this process, each with
its own aiortc engine; the presenter and one listener join node A through signaling
(vidconsult/client.py); node B asks A for the room over the internal endpoint (cluster
secret) and fans the presenter's tracks out to its own audience (plain aiortc peers on B's
engine), over real UDP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack

from media.engine import AiortcMediaEngine
from tests.helpers import SECRET, ServerHandle
from tests.media.conftest import client_pc
from vidconsult.app import MEDIA, run_server
from vidconsult.client import RoomClient
from vidconsult.config import Settings
from vidconsult.ports import MediaListener, PublishedTrack, SessionDescription, TrackRef
from vidconsult.tokens import TokenSigner
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
    async with run_server(settings) as server, aiohttp.ClientSession() as session:
        yield ServerHandle(
            url=server.url, signer=TokenSigner(SECRET.encode()), app=server.app, session=session
        )


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
