"""Two Python participants through the real server: REST, Socket.IO signaling and the aiortc
media engine, with real peer connections over UDP on loopback."""

from __future__ import annotations

import asyncio

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import ServerHandle
from vidconsult.app import MEDIA
from vidconsult.client import ClientError, RoomClient


def strip_candidates(sdp: str) -> str:
    """Remove every ICE candidate, as if the browser only had mDNS names we cannot resolve."""
    return "".join(line + "\r\n" for line in sdp.splitlines()
                   if line and not line.startswith("a=candidate:")
                   and not line.startswith("a=end-of-candidates"))


async def test_two_clients_see_and_hear_each_other(live_server: ServerHandle) -> None:
    room = await live_server.create_room("Cardiology consult")
    rid = room["id"]
    a = RoomClient(live_server.url, live_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(live_server.url, live_server.mint("pt-wang", "patient", room=rid))
    try:
        await a.connect()
        await b.connect()
        sids_a = await a.publish(VideoStreamTrack(), AudioStreamTrack())
        await b.publish(VideoStreamTrack(), AudioStreamTrack())
        assert len(sids_a) == 2

        for me, other in ((a, "pt-wang"), (b, "dr-li")):
            video = await me.wait_for_track(other, "video")
            audio = await me.wait_for_track(other, "audio")
            frame = await video.next_frame(timeout=15)
            assert frame.width > 0 and frame.height > 0
            await audio.wait_frames(5)
        status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
        kinds = {p["identity"]: sorted(t["kind"] for t in p["tracks"])
                 for p in view["participants"]}
        assert kinds == {"dr-li": ["audio", "video"], "pt-wang": ["audio", "video"]}

        # mute is announced to the other participant
        video_sid = next(s for s in sids_a.values()
                         if any(t["sid"] == s and t["kind"] == "video"
                                for p in view["participants"] for t in p["tracks"]))
        await a.set_muted(video_sid, True)
        muted = await b.wait_event("track.muted", lambda d: d["track_sid"] == video_sid)
        assert muted["muted"] is True and muted["identity"] == "dr-li"

        # leaving is seen by the other, and its tracks stop
        await b.leave()
        left = await a.wait_event("participant.left")
        assert left["identity"] == "pt-wang"
    finally:
        await a.close()
        await b.close()


async def test_observer_receives_without_publishing(live_server: ServerHandle) -> None:
    room = await live_server.create_room()
    rid = room["id"]
    pub = RoomClient(live_server.url, live_server.mint("expert", "expert", room=rid))
    obs = RoomClient(live_server.url, live_server.mint("student", "observer", room=rid))
    try:
        await pub.connect()
        await pub.publish(VideoStreamTrack())
        await obs.connect()
        video = await obs.wait_for_track("expert", "video")
        assert (await video.next_frame()).width > 0
        try:
            await obs.publish(VideoStreamTrack())
        except ClientError as exc:
            assert exc.code == "permission_denied"
        else:
            raise AssertionError("an observer published")
    finally:
        await pub.close()
        await obs.close()


async def test_connects_through_peer_reflexive_candidates(live_server: ServerHandle) -> None:
    """A client whose SDPs carry no usable candidates (a browser with mDNS names) still
    connects: the server learns its address from the connectivity checks."""
    room = await live_server.create_room()
    rid = room["id"]
    a = RoomClient(live_server.url, live_server.mint("a", "doctor", room=rid),
                   sdp_filter=strip_candidates)
    b = RoomClient(live_server.url, live_server.mint("b", "patient", room=rid),
                   sdp_filter=strip_candidates)
    try:
        await a.connect()
        await b.connect()
        await a.publish(VideoStreamTrack())
        video = await b.wait_for_track("a", "video")
        assert (await video.next_frame(timeout=20)).width > 0
        assert a.publish_state == "connected" and b.subscribe_state == "connected"
    finally:
        await a.close()
        await b.close()


async def test_malformed_sdp_leaves_the_session_working(live_server: ServerHandle) -> None:
    room = await live_server.create_room()
    rid = room["id"]
    a = RoomClient(live_server.url, live_server.mint("a", "doctor", room=rid))
    b = RoomClient(live_server.url, live_server.mint("b", "patient", room=rid))
    try:
        await a.connect()
        await b.connect()
        await a.publish(VideoStreamTrack())
        video = await b.wait_for_track("a", "video")
        await video.next_frame()
        for sdp in ("garbage", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF\r\n", "v=0\r\n" * 3):
            try:
                await a.request("publish.offer", {"sdp": sdp, "type": "offer"})
            except ClientError as exc:
                assert exc.code == "invalid_sdp"
            else:
                raise AssertionError(f"accepted {sdp!r}")
        before = video.frames
        await video.wait_frames(before + 10)
        status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
        assert {p["identity"] for p in view["participants"]} == {"a", "b"}
    finally:
        await a.close()
        await b.close()


async def test_ending_the_room_disconnects_everyone(live_server: ServerHandle) -> None:
    room = await live_server.create_room()
    rid = room["id"]
    clients = [RoomClient(live_server.url, live_server.mint(f"p{i}", "patient", room=rid))
               for i in range(2)]
    try:
        for c in clients:
            await c.connect()
        await clients[0].publish(VideoStreamTrack())
        await clients[1].wait_for_track("p0", "video")
        status, _ = await live_server.api("DELETE", f"/api/v1/rooms/{rid}")
        assert status == 200
        for c in clients:
            await asyncio.wait_for(c.disconnected.wait(), 10)
            assert c.closed_reason and "ended" in c.closed_reason
        stats = live_server.app[MEDIA].stats()
        assert (stats.rooms, stats.publishers, stats.subscriptions) == (0, 0, 0)
    finally:
        for c in clients:
            await c.close()
