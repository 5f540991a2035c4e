"""The recorder's pieces without a network: bitstream sizes, the common clock, the writer fed
with encoded frames (H264 too), and sync from sender reports despite delayed audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.recording.bitstream import h264_size, nal_units, vp8_size
from media.recording.clock import TrackClock, WallClockLink
from media.recording.tap import ParticipantRecording
from media.recording.writer import ContainerWriter
from media.taps import EncodedFrame
from tests.recording import synth

FLASHES = [1.0, 3.5, 6.0]


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_feed_is_written_as_received_and_in_sync(tmp_path: Path, codec: str) -> None:
    packets = synth.encode(8, FLASHES, video_codec=codec, size=(320, 180))
    first = next(p for p in packets if p.kind == "video")
    size = vp8_size(first.data) if codec == "vp8" else h264_size(first.data)
    assert size == (320, 180)
    mime = "video/VP8" if codec == "vp8" else "video/H264"
    fmt = "webm" if codec == "vp8" else "matroska"
    video = synth.FeedTrack("TR_v", "video", mime, 90000, 4_294_000_000)  # wraps
    audio = synth.FeedTrack("TR_a", "audio", "audio/opus", 48000, 77)
    writer = ContainerWriter(tmp_path / f"p.{fmt}", fmt)
    rec = ParticipantRecording("rec_000000000001", writer, origin=50.0)
    taps = {
        "TR_v": rec.add_track("TR_v", "video", mime, 90000),
        "TR_a": rec.add_track("TR_a", "audio", "audio/opus", 48000),
    }
    # audio arrives 120 ms later than video: sync must come from the sender reports
    for ev in synth.frames(packets, video, audio, start=50.0, audio_delay=0.12):
        tap = taps[ev.track_sid]
        (tap.on_frame if isinstance(ev, EncodedFrame) else tap.on_sender_report)(ev)
    result = writer.finish().result(timeout=10)
    assert result.error is None and result.kinds == ["audio", "video"]
    summary = synth.decode_summary(writer.path)
    assert abs(summary["duration"] - 8.0) < 0.5
    got = synth.payloads(writer.path, "video")
    sent = [p.data for p in packets if p.kind == "video"]
    if codec == "h264":  # Matroska stores length-prefixed NAL units: same units
        sent = [b"".join(nal_units(d)) for d in sent]
        got = [b"".join(synth.avcc_units(d)) for d in got]
    assert got == sent
    v, a = synth.flash_times(writer.path)
    assert len(v) == len(a) == 3
    assert all(abs(x - y) < 0.1 for x, y in zip(v, a, strict=True)), (v, a)


def test_clock_unwraps_and_reanchors_on_a_jump() -> None:
    clock = TrackClock(90000, WallClockLink())
    t0 = clock.to_time(0xFFFFFF00, arrival=10.0)
    assert t0 == 10.0
    # 0x200 ticks (5.7 ms) later, arriving 10 ms later: placed by the first frame's arrival
    assert abs(clock.to_time(0x00000100, arrival=10.01) - (10.0 + 0x200 / 90000)) < 1e-9
    jumped = clock.to_time(0x10000000, arrival=10.05)  # an hour ahead in RTP time
    assert jumped == 10.05
