"""The SDK's file player: a looped file keeps its timestamps going and stays paced in real time
(aiortc's MediaPlayer(decode=False, loop=True) restarts them and floods after the first loop)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from media.recording.bitstream import nal_units
from tests.recording import synth
from vidconsult.file_player import EncodedFilePlayer


async def _collect(track, until: float, start_box: list[float]) -> list[tuple[float, float]]:
    got = []
    while True:
        packet = await track.recv()
        if not start_box:
            start_box.append(time.monotonic())
        at = float(packet.pts * packet.time_base)
        got.append((at, time.monotonic()))
        if at >= until:
            return got


async def test_looped_file_keeps_timestamps_and_pace(tmp_path: Path) -> None:
    clip = synth.write_file(tmp_path / "clip.webm", synth.encode(1.0, [0.2]))
    player = EncodedFilePlayer(str(clip), loop=True)
    assert player.audio is not None and player.video is not None
    started: list[float] = []
    video, audio = await asyncio.wait_for(
        asyncio.gather(_collect(player.video, 3.2, started), _collect(player.audio, 3.2, started)),
        15,
    )
    player.video.stop()
    player.audio.stop()

    assert player.loops >= 3
    for got in (video, audio):
        times = [t for t, _ in got]
        assert all(b > a for a, b in zip(times, times[1:], strict=False)), "pts went backwards"
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps) < 0.1, f"a loop left a hole of {max(gaps):.3f} s"
        # paced: nothing is handed out before its time (the first packet sets the clock)
        early = [(t, w - started[0]) for t, w in got if w - started[0] < t - 0.05]
        assert not early, f"sent ahead of time: {early[:3]}"
    assert abs(video[-1][0] - audio[-1][0]) < 0.15  # one clock for both tracks


async def test_h264_from_matroska_is_sent_as_annex_b(h264_file: Path) -> None:
    """Matroska stores H264 length-prefixed; aiortc's packetizer splits Annex-B start codes.
    Each track also names its codec, for the SDK to negotiate that one."""
    player = EncodedFilePlayer(str(h264_file))
    assert player.audio is not None and player.video is not None
    assert (player.video.mime_type, player.audio.mime_type) == ("video/H264", "audio/opus")
    sent = [bytes(await asyncio.wait_for(player.video.recv(), 5)) for _ in range(16)]
    player.video.stop()
    player.audio.stop()
    source = synth.payloads(h264_file, "video")[:16]
    assert all(p.startswith(b"\x00\x00\x00\x01") for p in sent)
    assert [nal_units(p) for p in sent] == [synth.avcc_units(p) for p in source]
    assert nal_units(sent[0])[0][0] & 0x1F == 7  # the keyframe starts with its SPS


async def test_file_without_sendable_streams_is_refused(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "pcm.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(1600))
    with pytest.raises(ValueError, match="no VP8, H264 or Opus"):
        EncodedFilePlayer(str(path))
