"""Bitrate caps publishers obey, and audio-only subscribers (real aiortc peers)."""

from __future__ import annotations

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media import AiortcMediaEngine
from media.bandwidth import BitrateCaps, with_video_bitrate
from media.ingress import Ingress
from tests.media.conftest import ROOM, FakeListener, Peers, Pulse, next_frame, published
from vidconsult.ports import SessionDescription


def test_caps_combine_to_the_lowest_and_sdp_carries_them() -> None:
    caps = BitrateCaps(default_kbps=800)
    caps.set(ROOM, 500)
    caps.set(ROOM, 300, identity="rural")
    assert (caps.kbps(ROOM, "city"), caps.kbps(ROOM, "rural"), caps.kbps("x", "y")) == (
        500,
        300,
        800,
    )
    caps.forget(ROOM)
    assert caps.kbps(ROOM, "rural") == 800
    sdp = (
        "v=0\r\nm=audio 9 X 96\r\nc=IN IP4 0.0.0.0\r\n"
        "m=video 9 X 97\r\nc=IN IP4 0.0.0.0\r\nb=AS:2000\r\na=mid:1\r\n"
    )
    out = with_video_bitrate(sdp, 300)
    assert out.count("b=AS:300") == 1 and "b=TIAS:300000" in out and "b=AS:2000" not in out
    assert out.index("b=AS:300") > out.index("m=video")


async def test_publisher_encoder_obeys_the_cap(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await engine.set_bitrate_cap(ROOM, 600)
    answers: list[str] = []
    publish = engine.publish

    async def recording_publish(*args: object) -> SessionDescription:
        answer = await publish(*args)  # type: ignore[arg-type]
        answers.append(answer.sdp)
        return answer

    engine.publish = recording_publish  # type: ignore[method-assign]
    pc = await peers.publisher("alice", VideoStreamTrack())
    (info,) = await published(listener, "alice", 1)
    video_section = answers[0].split("m=video", 1)[1]
    assert "b=AS:600" in video_section and "b=TIAS:600000" in video_section
    await listener.wait_state("alice", "publish", "connected")
    entry = engine._rooms.find_track(ROOM, "alice", info.sid)
    assert entry is not None and entry.ingress is not None
    assert entry.ingress.bitrate_cap == 600_000
    # aiortc's own REMB estimates are clamped on the way out
    high = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(2_000_000, [5])
    )
    assert unpack_remb_fci(entry.ingress._clamp_remb(high).fci) == (600_000, [5])

    # a lower per-participant cap is sent at once by REMB; the publisher's encoder follows
    sender = pc.getTransceivers()[0].sender
    rembs: list[int] = []
    remb_seen = Pulse()
    handle = sender._handle_rtcp_packet

    async def recording(packet: object) -> None:
        await handle(packet)
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            rembs.append(unpack_remb_fci(packet.fci)[0])
            remb_seen.notify()

    sender._handle_rtcp_packet = recording  # type: ignore[method-assign]
    await media_arrived(entry.ingress)  # a REMB before the encoder exists is lost
    told: list[int] = []  # REMBs the engine sends while set_bitrate_cap runs
    receiver = entry.ingress.receiver
    send_rtcp = receiver._send_rtcp

    async def spy(packet: object) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            told.append(unpack_remb_fci(packet.fci)[0])
        await send_rtcp(packet)

    receiver._send_rtcp = spy  # type: ignore[method-assign]
    await engine.set_bitrate_cap(ROOM, 400, identity="alice")
    receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]
    assert told[:1] == [400_000]  # at once, not only at aiortc's next (clamped) estimate
    await remb_seen.until(lambda: 400_000 in rembs, 5)
    assert max(rembs) <= 600_000  # aiortc's own estimates were clamped to the room cap
    assert sender._RTCRtpSender__encoder.target_bitrate <= 400_000


async def media_arrived(ingress: Ingress) -> None:
    """Returns once the engine has received the publisher's RTP (so the publisher's encoder
    exists, and a REMB can name the media SSRC)."""
    receiver = ingress.receiver
    arrived = Pulse()
    handle_rtp = receiver._handle_rtp_packet

    async def counted(packet: RtpPacket, arrival_time_ms: int) -> None:
        await handle_rtp(packet, arrival_time_ms)
        arrived.notify()

    receiver._handle_rtp_packet = counted  # type: ignore[method-assign]
    try:
        await arrived.until(lambda: ingress.media_ssrc is not None, 10)
    finally:
        receiver._handle_rtp_packet = handle_rtp  # type: ignore[method-assign]


async def test_audio_only_holds_video_and_gives_it_back(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    await peers.publisher("alice", AudioStreamTrack(), VideoStreamTrack())
    tracks = {t.kind.value: t.sid for t in await published(listener, "alice", 2)}
    bob = await peers.subscriber("bob")
    await engine.set_audio_only(ROOM, "bob", True)
    for sid in tracks.values():
        await engine.subscribe(ROOM, "bob", "alice", sid)
    mapping = await listener.wait_answered("bob", lambda m: len(m) == 1)
    assert [r.track_sid for r in mapping.values()] == [tracks["audio"]]
    assert (await next_frame(bob.track(bob.mid_of(tracks["audio"])))).sample_rate > 0

    mark = len(listener.events)
    await engine.set_audio_only(ROOM, "bob", False)
    mapping = await listener.wait_answered("bob", lambda m: len(m) == 2, after=mark)
    assert (await next_frame(bob.track(bob.mid_of(tracks["video"])))).width > 0

    mark = len(listener.events)
    await engine.set_audio_only(ROOM, "bob", True)
    mapping = await listener.wait_answered("bob", lambda m: len(m) == 1, after=mark)
    assert engine.stats().subscriptions == 1
