"""Pre-encoded media for passthrough tests: publisher tracks that send av.Packets (aiortc
packetizes them without encoding), and taps that record what a receiver assembles."""

from __future__ import annotations

import asyncio
import fractions
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import av
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.ingress import Ingress
from media.taps import EncodedFrame, SenderReport
from tests.media.conftest import Pulse

VIDEO_RATE = 30


@dataclass(frozen=True, slots=True)
class Clip:
    kind: str
    mime: str
    frames: list[bytes]  # in sending order
    keyframes: frozenset[int]  # indexes of keyframes
    time_base: fractions.Fraction
    step: int  # pts per frame


def video_clip(
    codec: str,
    count: int = 90,
    gop: int = 30,
    size: tuple[int, int] = (160, 120),
    bit_rate: int = 300_000,
) -> Clip:
    """Random-noise frames (so every encoded frame is distinct), a keyframe every ``gop``."""
    name = {"video/vp8": "libvpx", "video/h264": "libx264"}[codec]
    ctx = av.CodecContext.create(name, "w")
    ctx.width, ctx.height = size
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = fractions.Fraction(1, VIDEO_RATE)
    ctx.framerate = fractions.Fraction(VIDEO_RATE, 1)
    ctx.bit_rate = bit_rate
    ctx.gop_size = gop
    if name == "libx264":
        ctx.options = {"tune": "zerolatency", "preset": "ultrafast", "profile": "baseline"}
    else:
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    rng = random.Random(7)
    frames: list[bytes] = []
    keys: set[int] = set()
    for i in range(count):
        frame = av.VideoFrame(width=size[0], height=size[1], format="yuv420p")
        for plane in frame.planes:
            plane.update(rng.randbytes(plane.buffer_size))
        frame.pts = i
        picture = av.video.frame.PictureType
        frame.pict_type = picture.I if i % gop == 0 else picture.NONE
        for packet in ctx.encode(frame):
            if packet.is_keyframe:
                keys.add(len(frames))
            frames.append(bytes(packet))
    for packet in ctx.encode(None):
        if packet.is_keyframe:
            keys.add(len(frames))
        frames.append(bytes(packet))
    return Clip("video", codec, frames, frozenset(keys), fractions.Fraction(1, 90000), 3000)


def opus_clip(count: int = 100) -> Clip:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = 48000
    ctx.layout = "stereo"
    ctx.format = "s16"
    ctx.time_base = fractions.Fraction(1, 48000)
    frames: list[bytes] = []
    for i in range(count + 5):
        samples = [int(8000 * math.sin(2 * math.pi * (440 + i) * n / 48000)) for n in range(960)]
        data = b"".join(s.to_bytes(2, "little", signed=True) * 2 for s in samples)
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(data)
        frame.sample_rate = 48000
        frame.pts = i * 960
        frames.extend(bytes(p) for p in ctx.encode(frame))
    return Clip(
        "audio",
        "audio/opus",
        frames[:count],
        frozenset(range(count)),
        fractions.Fraction(1, 48000),
        960,
    )


class EncodedTrack(MediaStreamTrack):
    """Sends a clip's frames as av.Packets in real time, looping; records what it sent and
    counts keyframe requests (PLI/FIR) reaching its sender (``requested`` is notified)."""

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.kind = clip.kind
        self.clip = clip
        self.sent: list[int] = []  # clip indexes, in order
        self.keyframe_requests = 0
        self.requested = Pulse()
        self._start: float | None = None
        self._n = 0

    def count_keyframe_requests(self, sender: RTCRtpSender) -> None:
        original = sender._send_keyframe

        def send_keyframe() -> None:
            self.keyframe_requests += 1
            self.requested.notify()
            original()

        sender._send_keyframe = send_keyframe  # type: ignore[method-assign]

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        seconds = self._n * self.clip.step * self.clip.time_base
        await asyncio.sleep(max(0.0, self._start + float(seconds) - time.monotonic()))
        index = self._n % len(self.clip.frames)
        packet = av.Packet(self.clip.frames[index])
        packet.pts = self._n * self.clip.step
        packet.time_base = self.clip.time_base
        self.sent.append(index)
        self._n += 1
        return packet


@dataclass
class RecordingTap:
    frames: list[EncodedFrame] = field(default_factory=list)
    reports: list[SenderReport] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    changed: Pulse = field(default_factory=Pulse)

    def on_frame(self, frame: EncodedFrame) -> None:
        self.frames.append(frame)
        self.changed.notify()

    def on_sender_report(self, report: SenderReport) -> None:
        self.reports.append(report)
        self.changed.notify()

    def on_end(self, track_sid: str) -> None:
        self.ended.append(track_sid)
        self.changed.notify()

    async def wait(self, predicate: Callable[[RecordingTap], bool], timeout: float = 15.0) -> None:
        await self.changed.until(lambda: predicate(self), timeout)


def record_received(pc: RTCPeerConnection, *, decode: bool = False) -> dict[str, RecordingTap]:
    """Hook every track a (client) peer connection receives: returns {mid: tap} filled with
    the encoded frames its receivers assemble (the same hook the engine uses)."""
    taps: dict[str, RecordingTap] = {}

    def on_track(track: MediaStreamTrack) -> None:
        for t in pc.getTransceivers():
            if t.receiver.track is track and t.mid not in taps:
                ingress = Ingress(t.receiver, t.kind, list(t._codecs), decode=decode)
                tap = RecordingTap()
                ingress.add_tap(tap)
                taps[t.mid] = tap

    pc.on("track", on_track)
    return taps


def nal_units(annex_b: bytes) -> list[bytes]:
    """H264 NAL units of an Annex-B access unit, whatever the start code length."""
    units = []
    for chunk in annex_b.split(b"\x00\x00\x01"):
        chunk = chunk.rstrip(b"\x00") if chunk.endswith(b"\x00") else chunk
        if chunk:
            units.append(chunk)
    return units


def same_frame(mime: str, a: bytes, b: bytes) -> bool:
    if mime == "video/h264":
        return nal_units(a) == nal_units(b)
    return a == b
