"""Two Python participants through the real server: REST, Socket.IO signaling and the aiortc
media engine, with real peer connections over UDP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.conftest import TwoInARoom
from tests.helpers import ServerHandle
from vidconsult.app import MEDIA
from vidconsult.client import ClientError, RoomClient


def strip_candidates(sdp: str) -> str:
    """Remove every ICE candidate, as if the browser only had mDNS names we cannot resolve."""
    return "".join(
        line + "\r\n"
        for line in sdp.splitlines()
        if line
        and not line.startswith("a=candidate:")
        and not line.startswith("a=end-of-candidates")
    )


async def test_two_clients_see_and_hear_each_other(
    live_server: ServerHandle, two_in_a_room: Callable[..., Awaitable[TwoInARoom]]
) -> None:
    pair = await two_in_a_room(name="Cardiology consult")
    rid, a, b, sids_a = pair.room_id, pair.first, pair.second, pair.first_sids
    assert len(sids_a) == 2

    for me, other in ((a, "pt-wang"), (b, "dr-li")):
        video = await me.wait_for_track(other, "video")
        audio = await me.wait_for_track(other, "audio")
        frame = await video.next_frame(timeout=15)
        assert frame.width > 0 and frame.height > 0
        await audio.wait_frames(5)
    status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
    kinds = {p["identity"]: sorted(t["kind"] for t in p["tracks"]) for p in view["participants"]}
    assert kinds == {"dr-li": ["audio", "video"], "pt-wang": ["audio", "video"]}

    # mute is announced to the other participant
    video_sid = next(
        s
        for s in sids_a.values()
        if any(
            t["sid"] == s and t["kind"] == "video"
            for p in view["participants"]
            for t in p["tracks"]
        )
    )
    await a.set_muted(video_sid, True)
    muted = await b.wait_event("track.muted", lambda d: d["track_sid"] == video_sid)
    assert muted["muted"] is True and muted["identity"] == "dr-li"

    # leaving is seen by the other, and its tracks stop
    await b.leave()
    left = await a.wait_event("participant.left")
    assert left["identity"] == "pt-wang"


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
    a = RoomClient(
        live_server.url, live_server.mint("a", "doctor", room=rid), sdp_filter=strip_candidates
    )
    b = RoomClient(
        live_server.url, live_server.mint("b", "patient", room=rid), sdp_filter=strip_candidates
    )
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
    clients = [
        RoomClient(live_server.url, live_server.mint(f"p{i}", "patient", room=rid))
        for i in range(2)
    ]
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


async def test_room_bitrate_cap_reaches_the_publisher(live_server: ServerHandle) -> None:
    room = await live_server.create_room("Village clinic, weak uplink", max_video_kbps=300)
    assert room["max_video_kbps"] == 300
    rid = room["id"]
    pub = RoomClient(live_server.url, live_server.mint("village", "patient", room=rid))
    try:
        await pub.connect()
        await pub.publish(VideoStreamTrack())
        answer = pub.publish_answer
        assert "b=AS:300" in answer or "b=TIAS:300000" in answer, answer
        # a room admin may change it; a patient may not; nonsense is refused
        doctor = live_server.mint("dr", "doctor", room=rid)
        status, body = await live_server.api(
            "PUT", f"/api/v1/rooms/{rid}/bandwidth", {"video_kbps": 150}, token=doctor
        )
        assert status == 200 and body["room_max_video_kbps"] == 150
        status, _ = await live_server.api(
            "PUT", f"/api/v1/rooms/{rid}/bandwidth", {"video_kbps": 150}, token=pub._token
        )
        assert status == 403
        status, err = await live_server.api(
            "PUT", f"/api/v1/rooms/{rid}/bandwidth", {"video_kbps": -1}
        )
        assert status == 400 and err["error"]["code"] == "invalid_payload"
        status, err = await live_server.api(
            "PUT", f"/api/v1/rooms/{rid}/bandwidth", {"video_kbps": 100, "identity": "nobody"}
        )
        assert status == 409 and err["error"]["code"] == "not_joined"
        _, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
        assert view["max_video_kbps"] == 150
    finally:
        await pub.close()


async def test_audio_only_subscription_on_a_poor_link(live_server: ServerHandle) -> None:
    room = await live_server.create_room()
    rid = room["id"]
    pub = RoomClient(live_server.url, live_server.mint("expert", "expert", room=rid))
    sub = RoomClient(live_server.url, live_server.mint("village", "patient", room=rid))
    try:
        await pub.connect()
        await pub.publish(VideoStreamTrack(), AudioStreamTrack())
        await sub.connect()
        video = await sub.wait_for_track("expert", "video")
        audio = await sub.wait_for_track("expert", "audio")
        await video.next_frame()
        # what the server adapts to this link: one layer (no simulcast from aiortc), not paused
        links = await sub.request("subscribe.links", {})
        assert links["ok"] is True
        kinds = sorted(t["kind"] for t in links["tracks"])
        assert kinds == ["audio", "video"], links
        (sent,) = [t for t in links["tracks"] if t["kind"] == "video"]
        assert sent["publisher"] == "expert" and sent["layers"] == 1 and sent["layer"] == 0
        assert sent["paused"] is False
        offers_before = len([e for e, _ in sub.events if e == "subscribe.offer"])
        assert await sub.request("subscribe.audio_only", {"enabled": True}) == {
            "ok": True,
            "audio_only": True,
        }

        def video_held() -> bool:
            offers = [d for e, d in sub.events if e == "subscribe.offer"]
            return len(offers) > offers_before and all(
                t["kind"] == "audio" for t in offers[-1]["tracks"].values()
            )

        await sub.wait_until(video_held)
        heard = audio.frames
        await audio.wait_frames(heard + 20)  # sound keeps flowing
        held = await sub.request("subscribe.links", {})
        assert [t["kind"] for t in held["tracks"]] == ["audio"], held

        await sub.request("subscribe.audio_only", {"enabled": False})
        await sub.wait_until(
            lambda: any(
                t["kind"] == "video"
                for t in [d for e, d in sub.events if e == "subscribe.offer"][-1]["tracks"].values()
            )
        )
        video = await sub.wait_for_track("expert", "video")
        assert (await video.next_frame(timeout=10)).width > 0
    finally:
        await pub.close()
        await sub.close()


async def test_lecture_one_presenter_many_viewers(live_server: ServerHandle) -> None:
    """Remote education: viewers subscribe only; each one decodes the presenter's video."""
    room = await live_server.create_room("Lecture: chest pain triage", kind="lecture")
    assert room["max_participants"] == 100
    rid = room["id"]
    presenter = RoomClient(live_server.url, live_server.mint("prof-chen", "expert", room=rid))
    viewers = [
        RoomClient(live_server.url, live_server.mint(f"unit-{i}", "observer", room=rid))
        for i in range(6)
    ]
    try:
        await presenter.connect()
        await presenter.publish(VideoStreamTrack(), AudioStreamTrack())
        await asyncio.gather(*(v.connect() for v in viewers))
        for viewer in viewers:
            video = await viewer.wait_for_track("prof-chen", "video")
            assert (await video.next_frame(timeout=15)).width > 0
        stats = live_server.app[MEDIA].stats()
        assert stats.subscriptions == 12  # 6 viewers x (audio + video)
    finally:
        await presenter.close()
        for viewer in viewers:
            await viewer.close()


async def test_an_answer_sent_before_the_join_reply_is_accepted(live_server: ServerHandle) -> None:
    """Joining subscribes the newcomer to the tracks already published; the offer can reach a
    client before the join reply, and a client may answer it at once (the protocol does not
    make it wait). The server must take that answer."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from tests.sio import RawClient
    from web.keys import ROOMS

    room = await live_server.create_room("Cardiology consult")
    rid = room["id"]
    pub = RoomClient(live_server.url, live_server.mint("dr-li", "doctor", room=rid))
    raw = RawClient()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    rooms = live_server.app[ROOMS]
    original_join, original_answer = rooms.join, rooms.subscriber_answer
    answered = asyncio.Event()

    async def join(claims, sid, **kwargs):  # the reply waits until the client has answered
        result = await original_join(claims, sid, **kwargs)
        if claims.identity == "late":
            await asyncio.wait_for(answered.wait(), 5)
        return result

    async def subscriber_answer(*args, **kwargs):
        try:
            return await original_answer(*args, **kwargs)
        finally:
            answered.set()

    rooms.join, rooms.subscriber_answer = join, subscriber_answer
    replies: list[dict] = []
    got_track: asyncio.Future = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track) -> None:
        if track.kind == "video" and not got_track.done():
            got_track.set_result(track)

    @raw.sio.on("subscribe.offer")
    async def offer(data) -> None:
        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        replies.append(
            await raw.request(
                "subscribe.answer", {"sdp": pc.localDescription.sdp, "type": "answer"}
            )
        )

    try:
        await pub.connect()
        await pub.publish(VideoStreamTrack(), AudioStreamTrack())
        await raw.connect(live_server.url, live_server.mint("late", "observer", room=rid))
        joined = await raw.request("join")
        assert joined["room"]["id"] == rid, joined
        assert replies and "error" not in replies[0], replies
        track = await asyncio.wait_for(got_track, 10)
        frame = await asyncio.wait_for(track.recv(), 10)
        assert frame.width > 0
    finally:
        rooms.join, rooms.subscriber_answer = original_join, original_answer
        await raw.close()
        await pc.close()
        await pub.close()


async def test_leaving_or_dropping_during_the_join_leaves_no_ghost(
    live_server: ServerHandle,
) -> None:
    """A connection that leaves, or drops, while its join is still being handled must not stay
    in the room as a participant (it would hold a seat, look present, keep an emergency room
    open)."""
    from tests.sio import RawClient
    from web.keys import ROOMS

    room = await live_server.create_room("Emergency")
    rid = room["id"]
    rooms = live_server.app[ROOMS]
    original_join, original_leave = rooms.join, rooms.leave
    entered, release, emptied = asyncio.Event(), asyncio.Event(), asyncio.Event()
    leave_seen = asyncio.Event()

    async def slow_join(claims, sid, **kwargs):  # the join waits until the client is gone
        entered.set()
        await asyncio.wait_for(release.wait(), 10)
        return await original_join(claims, sid, **kwargs)

    async def leave(room_id, identity, sid, reason):
        leave_seen.set()
        await original_leave(room_id, identity, sid, reason)
        if (
            entered.is_set()
            and release.is_set()
            and not rooms.participants(rid, include_hidden=True)
        ):
            emptied.set()  # a leave after the join went through emptied the room

    rooms.join, rooms.leave = slow_join, leave
    try:
        for how in ("disconnect", "leave"):
            for event in (entered, release, emptied, leave_seen):
                event.clear()
            raw = RawClient()
            await raw.connect(live_server.url, live_server.mint(f"kiosk-{how}", "doctor", room=rid))
            joining = asyncio.create_task(raw.request("join"))
            await asyncio.wait_for(entered.wait(), 10)
            if how == "leave":
                left = asyncio.create_task(raw.request("leave"))
                await asyncio.wait_for(leave_seen.wait(), 10)  # handled while joining
            else:
                await raw.close()
            release.set()
            await asyncio.wait_for(emptied.wait(), 10)
            assert rooms.participants(rid, include_hidden=True) == [], how
            assert rooms.occupancy(rid)[0] is False
            if how == "leave":
                assert (await asyncio.wait_for(left, 10)) == {"ok": True}
            joining.cancel()
            await raw.close()
    finally:
        rooms.join, rooms.leave = original_join, original_leave


async def test_sdk_applies_events_around_the_join_reply_in_order(live_server: ServerHandle) -> None:
    """Events sent before the join reply are held and replayed in arrival order, and one sent
    right after the reply queues behind them: a participant who joined and left meanwhile is
    not left in the list."""
    from vidconsult.app import SIGNALING
    from web.keys import ROOMS

    room = await live_server.create_room("Cardiology consult")
    rid = room["id"]
    rooms = live_server.app[ROOMS]
    notifier = live_server.app[SIGNALING].notifier
    original_join = rooms.join
    ghost = {
        "identity": "ghost",
        "name": "ghost",
        "role": "doctor",
        "joined_at": "",
        "grants": {},
        "tracks": [],
    }

    async def join(claims, sid, **kwargs):
        result = await original_join(claims, sid, **kwargs)
        if claims.identity == "late":
            await notifier.send(rid, "late", "participant.joined", {"participant": ghost})
            # sent once this request's reply has gone out
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(
                    notifier.send(
                        rid, "late", "participant.left", {"identity": "ghost", "reason": "left"}
                    )
                )
            )
        return result

    rooms.join = join
    client = RoomClient(live_server.url, live_server.mint("late", "observer", room=rid))
    try:
        await client.connect()
        await client.wait_until(lambda: any(e == "participant.left" for e, _ in client.events))
        names = [e for e, _ in client.events if e.startswith("participant.")]
        assert names == ["participant.joined", "participant.left"], client.events
        assert "ghost" not in client.participants
    finally:
        rooms.join = original_join
        await client.close()
