"""Synthetic consultation media for the recording tests: a video that flashes white and an
audio track that beeps at the same instants, encoded once (VP8 / H264 + Opus) so the tests can
check that the recorder wrote the publisher's very packets, in sync."""

from __future__ import annotations

import fractions
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from media.taps import EncodedFrame, SenderReport

FPS = 15
RATE = 48000
AUDIO_FRAME = 960  # 20 ms
FLASH_SECONDS = 0.2
TONE_HZ = 1000.0


@dataclass(frozen=True)
class Encoded:
    kind: str
    data: bytes
    t: float  # media time, seconds
    keyframe: bool


def _flashing(t: float, flashes: Sequence[float]) -> bool:
    return any(f <= t < f + FLASH_SECONDS for f in flashes)


def encode(
    seconds: float,
    flashes: Sequence[float],
    *,
    video_codec: str = "vp8",
    size: tuple[int, int] = (320, 240),
    texture: bool = False,
) -> list[Encoded]:
    """Encoded packets of both tracks, in time order. ``texture``: moving noise on the
    picture, for a realistic bitrate (benchmarks)."""
    rng = np.random.default_rng(7)
    out: list[Encoded] = []
    w, h = size
    name = "libvpx" if video_codec == "vp8" else "libx264"
    enc = av.CodecContext.create(name, "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base = fractions.Fraction(1, FPS)
    enc.framerate = FPS
    enc.bit_rate = 300_000
    if video_codec == "vp8":
        enc.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
        }
        enc.gop_size = FPS
    else:
        enc.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "x264-params": f"keyint={FPS}:min-keyint={FPS}:repeat-headers=1:annexb=1:bframes=0",
        }
    white = np.full((h, w, 3), 255, np.uint8)
    black = np.zeros((h, w, 3), np.uint8)
    for i in range(int(seconds * FPS)):
        t = i / FPS
        img = white if _flashing(t, flashes) else black
        if texture:
            img = np.clip(img.astype(np.int16) + rng.integers(-40, 40, img.shape), 0, 255).astype(
                np.uint8
            )
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for p in enc.encode(frame):
            out.append(Encoded("video", bytes(p), float(p.pts) / FPS, p.is_keyframe))
    for p in enc.encode(None):
        out.append(Encoded("video", bytes(p), float(p.pts) / FPS, p.is_keyframe))

    aenc = av.CodecContext.create("libopus", "w")
    aenc.sample_rate, aenc.layout, aenc.format = RATE, "stereo", "s16"
    n = int(seconds * RATE / AUDIO_FRAME)
    for i in range(n):
        t0 = i * AUDIO_FRAME / RATE
        ts = t0 + np.arange(AUDIO_FRAME) / RATE
        on = np.zeros(AUDIO_FRAME, bool)
        for f in flashes:
            on |= (ts >= f) & (ts < f + FLASH_SECONDS)
        tone = (np.sin(2 * np.pi * TONE_HZ * ts) * 12000 * on).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = RATE
        frame.pts = i * AUDIO_FRAME
        for p in aenc.encode(frame):
            out.append(Encoded("audio", bytes(p), float(p.pts) / RATE, True))
    out.sort(key=lambda e: (e.t, e.kind))
    return out


def write_file(
    path: Path,
    packets: list[Encoded],
    *,
    video_codec: str = "vp8",
    size: tuple[int, int] = (320, 240),
) -> Path:
    """The packets as a WebM (VP8) or Matroska (H264) file, for a publisher to send as is."""
    fmt = "webm" if video_codec == "vp8" else "matroska"
    with av.open(str(path), "w", format=fmt) as c:
        vs = c.add_stream(video_codec)
        vs.width, vs.height = size
        vs.time_base = fractions.Fraction(1, 1000)
        if video_codec == "h264":
            from media.recording.bitstream import h264_parameter_sets

            first = next(p for p in packets if p.kind == "video")
            vs.codec_context.extradata = h264_parameter_sets(first.data)
        aus = c.add_stream("opus", rate=RATE)
        aus.time_base = fractions.Fraction(1, 1000)
        from media.recording.writer import opus_head

        aus.codec_context.extradata = opus_head()
        for e in packets:
            pkt = av.Packet(e.data)
            pkt.stream = vs if e.kind == "video" else aus
            pkt.pts = pkt.dts = round(e.t * 1000)
            pkt.time_base = fractions.Fraction(1, 1000)
            pkt.is_keyframe = e.keyframe
            c.mux(pkt)
    return path


@dataclass
class FeedTrack:
    sid: str
    kind: str
    codec: str
    clock_rate: int
    rtp_base: int


def frames(
    packets: list[Encoded],
    video: FeedTrack,
    audio: FeedTrack,
    *,
    start: float,
    ntp_offset: float = -1_000_000.0,
    audio_delay: float = 0.0,
    sr_every: float = 1.0,
) -> Iterator[EncodedFrame | SenderReport]:
    """What the engine's taps would deliver for a publisher sending ``packets`` from
    ``start`` (monotonic): frames with RTP timestamps and arrival times, and an SR per track
    every ``sr_every`` seconds (the publisher's NTP clock is ``ntp_offset`` from ours).
    ``audio_delay``: extra network delay of audio (A/V sync must come from the SRs)."""
    next_sr = {video.sid: 0.5, audio.sid: 0.7}
    for e in packets:
        track = video if e.kind == "video" else audio
        for tr in (video, audio):
            if e.t >= next_sr[tr.sid]:
                at = next_sr[tr.sid]
                yield SenderReport(
                    tr.sid,
                    ntp_time=start + at - ntp_offset,
                    rtp_timestamp=(tr.rtp_base + int(at * tr.clock_rate)) & 0xFFFFFFFF,
                    arrival=start + at + 0.01,
                )
                next_sr[tr.sid] += sr_every
        delay = 0.02 + (audio_delay if e.kind == "audio" else 0.0)
        yield EncodedFrame(
            track_sid=track.sid,
            kind=e.kind,
            codec=track.codec,
            data=e.data,
            rtp_timestamp=(track.rtp_base + int(round(e.t * track.clock_rate))) & 0xFFFFFFFF,
            clock_rate=track.clock_rate,
            keyframe=e.keyframe,
            arrival=start + e.t + delay,
        )


def flash_times(path: Path) -> tuple[list[float], list[float]]:
    """(video flash onsets, audio beep onsets) found in a decoded file, seconds of file time."""
    video: list[float] = []
    audio: list[float] = []
    with av.open(str(path)) as c:
        was = False
        for frame in c.decode(video=0):
            bright = float(frame.to_ndarray(format="gray").mean()) > 128
            if bright and not was:
                video.append(float(frame.time))
            was = bright
    with av.open(str(path)) as c:
        was = False
        for frame in c.decode(audio=0):
            samples = frame.to_ndarray().astype(np.float32).reshape(-1)
            if frame.format.name.startswith("flt"):
                samples *= 32768
            chunk = frame.samples // 8 or 1
            ch = samples.size // frame.samples
            mono = (
                samples.reshape(-1, ch)[:, 0]
                if frame.format.is_packed
                else samples[: frame.samples]
            )
            for k in range(0, frame.samples, chunk):
                loud = float(np.abs(mono[k : k + chunk]).mean()) > 2000
                if loud and not was:
                    audio.append(float(frame.time) + k / frame.sample_rate)
                was = loud
    return video, audio


def decode_summary(path: Path) -> dict[str, object]:
    """Decodes every frame; returns per-kind frame counts, codecs, and the span in seconds."""
    counts: dict[str, int] = {}
    codecs: dict[str, str] = {}
    first, last = float("inf"), 0.0
    with av.open(str(path)) as c:
        for s in c.streams:
            codecs[s.type] = s.codec_context.name
        for frame in c.decode(*c.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            counts[kind] = counts.get(kind, 0) + 1
            if frame.time is not None:
                first = min(first, frame.time)
                last = max(last, frame.time)
    return {
        "counts": counts,
        "codecs": codecs,
        "duration": last - first if counts else 0.0,
        "end": last,
    }


def payloads(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as c:
        stream = next(s for s in c.streams if s.type == kind)
        return [bytes(p) for p in c.demux(stream) if p.size]


def avcc_units(data: bytes) -> list[bytes]:
    """The NAL units of an H264 packet as Matroska / MP4 store it (4-byte big-endian lengths)."""
    units, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        units.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return units


def cell_flash_times(path: Path) -> tuple[list[float], list[float]]:
    """Flash onsets in the left and right halves of a two-participant composite."""
    onsets: tuple[list[float], list[float]] = ([], [])
    was = [False, False]
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            img = frame.to_ndarray(format="gray")
            half = img.shape[1] // 2
            for k, part in enumerate((img[:, :half], img[:, half:])):
                bright = float(part.mean()) > 100
                if bright and not was[k]:
                    onsets[k].append(float(frame.time))
                was[k] = bright
    return onsets
