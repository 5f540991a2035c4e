"""The engine with real aiortc peers over UDP."""

from __future__ import annotations

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media import AiortcMediaEngine
from tests.media.conftest import (
    ROOM,
    FakeListener,
    Peers,
    SizedVideoTrack,
    frame_of_width,
    mdns_candidates,
    next_frame,
    published,
    strip_candidates,
)
from vidconsult.domain.rooms import TrackKind


def sids_by_kind(tracks: list) -> dict[str, str]:
    return {t.kind.value: t.sid for t in tracks}


async def test_subscriber_receives_audio_and_video(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher("alice", AudioStreamTrack(), VideoStreamTrack())
    tracks = await published(listener, "alice", 2)
    assert {t.kind for t in tracks} == {TrackKind.AUDIO, TrackKind.VIDEO}
    assert {t.codec.lower() for t in tracks} == {"audio/opus", "video/vp8"}
    assert all(t.sid.startswith("TR_") and t.mid is not None for t in tracks)
    await listener.wait_state("alice", "publish", "connected")

    bob = await peers.subscriber("bob")
    for track in tracks:
        await engine.subscribe(ROOM, "bob", "alice", track.sid)
    mapping = await listener.wait_answered("bob", lambda m: len(m) == 2)
    assert {(r.publisher, r.track_sid, r.kind) for r in mapping.values()} == {
        ("alice", t.sid, t.kind) for t in tracks
    }
    await listener.wait_state("bob", "subscribe", "connected")

    sids = sids_by_kind(tracks)
    video = await next_frame(bob.track(bob.mid_of(sids["video"])))
    assert video.width > 0 and video.height > 0
    audio = await next_frame(bob.track(bob.mid_of(sids["audio"])))
    assert audio.sample_rate > 0

    stats = engine.stats()
    assert (stats.rooms, stats.publishers, stats.subscriptions) == (1, 1, 2)
    assert stats.bytes_forwarded > 0 and stats.packets_forwarded > 0
    assert stats.extra["frames_out"] > 0


async def test_one_offer_outstanding_changes_are_folded(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher("alice", AudioStreamTrack(), VideoStreamTrack())
    sids = sids_by_kind(await published(listener, "alice", 2))
    bob = await peers.subscriber("bob")
    listener.auto_answer = False

    await engine.subscribe(ROOM, "bob", "alice", sids["video"])
    first = await listener.wait_offer("bob")
    assert [r.track_sid for r in first.args[1].values()] == [sids["video"]]
    await engine.subscribe(ROOM, "bob", "alice", sids["audio"])  # while the first is unanswered
    mark = len(listener.events)

    from tests.media.conftest import answer

    await answer(engine, "bob", bob, first.args[0], first.args[1])
    second = await listener.wait_offer("bob", after=mark)
    assert sorted(r.track_sid for r in second.args[1].values()) == sorted(sids.values())
    assert len(listener.named("offer", "bob")) == 2
    await answer(engine, "bob", bob, second.args[0], second.args[1])
    frame = await next_frame(bob.track(bob.mid_of(sids["audio"])))
    assert frame.samples > 0


async def test_subscriptions_in_a_row_go_out_in_one_offer(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    """Issue 15: a newcomer subscribing to a publisher's audio and video (or everyone
    subscribing to a new publisher's tracks) gets ONE offer with both; one offer per track
    made the video wait for a second negotiation."""
    await peers.publisher("alice", AudioStreamTrack(), VideoStreamTrack())
    sids = sids_by_kind(await published(listener, "alice", 2))
    bob = await peers.subscriber("bob")
    listener.auto_answer = False

    await engine.subscribe(ROOM, "bob", "alice", sids["audio"])
    await engine.subscribe(ROOM, "bob", "alice", sids["video"])
    offer = await listener.wait_offer("bob")
    assert sorted(r.track_sid for r in offer.args[1].values()) == sorted(sids.values())
    from tests.media.conftest import answer

    await answer(engine, "bob", bob, offer.args[0], offer.args[1])
    frame = await next_frame(bob.track(bob.mid_of(sids["video"])))
    assert frame.width > 0
    assert len(listener.named("offer", "bob")) == 1


async def test_late_subscriber_unsubscribe_and_slot_reuse(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher("alice", VideoStreamTrack())  # 640x480
    await peers.publisher("carol", SizedVideoTrack(320, 240))
    alice_sid = (await published(listener, "alice", 1))[0].sid
    carol_sid = (await published(listener, "carol", 1))[0].sid
    await listener.wait_state("alice", "publish", "connected")

    bob = await peers.subscriber("bob")  # joins after the tracks are flowing
    await engine.subscribe(ROOM, "bob", "alice", alice_sid)
    await listener.wait_answered("bob", lambda m: len(m) == 1)
    mid = bob.mid_of(alice_sid)
    assert (await next_frame(bob.track(mid))).width > 0

    await engine.unsubscribe(ROOM, "bob", "alice", alice_sid)
    await listener.wait_answered("bob", lambda m: m == {})
    assert bob.transceiver(mid).currentDirection == "inactive"
    assert engine.stats().subscriptions == 0

    # the idle transceiver carries the next video track: no new m-line
    mark = len(listener.events)
    await engine.subscribe(ROOM, "bob", "carol", carol_sid)
    mapping = await listener.wait_answered("bob", lambda m: len(m) == 1, after=mark)
    assert list(mapping) == [mid] and mapping[mid].publisher == "carol"
    assert len(bob.pc.getTransceivers()) == 1
    assert (await frame_of_width(bob.track(mid), 320)).height == 240


async def test_publisher_leaving_ends_tracks_and_cleans_up(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher("alice", AudioStreamTrack(), VideoStreamTrack())
    sids = set(sids_by_kind(await published(listener, "alice", 2)).values())
    bob = await peers.subscriber("bob")
    for sid in sids:
        await engine.subscribe(ROOM, "bob", "alice", sid)
    await listener.wait_answered("bob", lambda m: len(m) == 2)
    await next_frame(bob.track(bob.mid_of(next(iter(sids)))))

    await engine.remove_participant(ROOM, "alice")
    await listener.wait(lambda e: {x.args[0] for x in listener.named("ended", "alice")} == sids)
    await listener.wait_answered("bob", lambda m: m == {})
    await listener.wait_state("alice", "publish", "closed")
    stats = engine.stats()
    assert (stats.publishers, stats.subscriptions, stats.extra["sources"]) == (0, 0, 0)
    # subscribing to a gone track is a harmless race, not an error
    await engine.subscribe(ROOM, "bob", "alice", next(iter(sids)))


async def test_publish_renegotiation_adds_and_removes_tracks(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    pc = await peers.publisher("alice", AudioStreamTrack())
    audio = (await published(listener, "alice", 1))[0]
    await listener.wait_state("alice", "publish", "connected")

    video_transceiver = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await peers.offer("alice", pc)
    video = (await published(listener, "alice", 2))[1]
    assert video.kind is TrackKind.VIDEO and video.mid == video_transceiver.mid

    bob = await peers.subscriber("bob")
    await engine.subscribe(ROOM, "bob", "alice", video.sid)
    await listener.wait_answered("bob", lambda m: len(m) == 1)
    assert (await next_frame(bob.track(bob.mid_of(video.sid)))).width > 0

    video_transceiver.direction = "inactive"
    await peers.offer("alice", pc)
    await listener.wait(lambda e: e.name == "ended" and e.args == (video.sid,))
    await listener.wait_answered("bob", lambda m: m == {})
    assert [e.args[0] for e in listener.named("ended")] == [video.sid]
    assert engine.stats().extra["sources"] == 1  # the audio track is still published
    assert audio.sid != video.sid


async def test_malformed_sdp_leaves_the_session_working(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    from vidconsult.errors import InvalidInput
    from vidconsult.ports import SessionDescription

    pc = await peers.publisher("alice", VideoStreamTrack())
    sid = (await published(listener, "alice", 1))[0].sid
    bob = await peers.subscriber("bob")
    await engine.subscribe(ROOM, "bob", "alice", sid)
    await listener.wait_answered("bob", lambda m: len(m) == 1)
    track = bob.track(bob.mid_of(sid))
    await next_frame(track)

    good = pc.localDescription.sdp
    bad_offers = [
        SessionDescription("garbage", "offer"),
        SessionDescription(good, "answer"),
        SessionDescription(good.split("m=")[0], "offer"),  # no media sections
        SessionDescription(good.replace("a=ice-pwd:", "a=x-pwd:"), "offer"),
        SessionDescription(good.replace("a=mid:0", "a=mid:7"), "offer"),  # sections changed
    ]
    for bad in bad_offers:
        try:
            await engine.publish(ROOM, "alice", bad)
        except InvalidInput as exc:
            assert exc.code == "invalid_sdp"
        else:
            raise AssertionError(f"accepted {bad.sdp[:40]!r}")
    for bad in (SessionDescription("v=0\r\nnonsense", "answer"), SessionDescription("", "x")):
        try:
            await engine.subscriber_answer(ROOM, "bob", bad)
        except InvalidInput as exc:
            assert exc.code == "invalid_sdp"
        else:
            raise AssertionError("bad answer accepted")

    for _ in range(3):  # frames keep coming, and a valid re-offer is still accepted
        assert (await next_frame(track)).width > 0
    await peers.offer("alice", pc)
    assert (await next_frame(track)).width > 0
    assert len(listener.named("published", "alice")) == 1


async def test_connection_forms_without_any_client_candidate(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher(
        "alice", AudioStreamTrack(), VideoStreamTrack(), offer_filter=strip_candidates
    )
    sids = sids_by_kind(await published(listener, "alice", 2))
    bob = await peers.subscriber("bob", answer_filter=strip_candidates)
    await engine.subscribe(ROOM, "bob", "alice", sids["video"])
    await engine.subscribe(ROOM, "bob", "alice", sids["audio"])
    await listener.wait_answered("bob", lambda m: len(m) == 2)
    await listener.wait_state("alice", "publish", "connected")
    await listener.wait_state("bob", "subscribe", "connected")
    assert (await next_frame(bob.track(bob.mid_of(sids["video"])))).width > 0
    assert (await next_frame(bob.track(bob.mid_of(sids["audio"])))).samples > 0


async def test_mdns_candidates_are_dropped_and_prflx_used(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher("alice", VideoStreamTrack(), offer_filter=mdns_candidates)
    sid = (await published(listener, "alice", 1))[0].sid
    bob = await peers.subscriber("bob", answer_filter=mdns_candidates)
    await engine.subscribe(ROOM, "bob", "alice", sid)
    await listener.wait_answered("bob", lambda m: len(m) == 1)
    assert (await next_frame(bob.track(bob.mid_of(sid)))).width > 0


async def test_listener_errors_do_not_break_the_engine(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    listener.fail_on = {"published", "state"}
    await peers.publisher("alice", VideoStreamTrack())
    sid = (await published(listener, "alice", 1))[0].sid
    bob = await peers.subscriber("bob")
    await engine.subscribe(ROOM, "bob", "alice", sid)
    await listener.wait_answered("bob", lambda m: len(m) == 1)
    assert (await next_frame(bob.track(bob.mid_of(sid)))).width > 0


async def test_unmute_and_close_room(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher("alice", VideoStreamTrack())
    sid = (await published(listener, "alice", 1))[0].sid
    bob = await peers.subscriber("bob")
    await engine.subscribe(ROOM, "bob", "alice", sid)
    await listener.wait_answered("bob", lambda m: len(m) == 1)
    await next_frame(bob.track(bob.mid_of(sid)))

    await engine.set_track_muted(ROOM, "alice", sid, True)  # frame-level: see test_relay
    await engine.set_track_muted(ROOM, "alice", sid, False)
    assert (await next_frame(bob.track(bob.mid_of(sid)))).width > 0

    await engine.close_room(ROOM)
    assert engine.stats().rooms == 0
    assert {e.args[0] for e in listener.named("ended")} == {sid}
    assert ("subscribe", "closed") in [e.args for e in listener.named("state", "bob")]
