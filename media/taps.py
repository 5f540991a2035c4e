"""Encoded-media taps: how a consumer that needs the publisher's *encoded* frames (the
recorder, a frame-level forwarder) receives them without decoding anything.

The engine (passthrough path) feeds every tap of a published track from the receive path:
complete encoded frames as aiortc's jitter buffer assembles them, and the publisher's RTCP
sender reports (to map RTP time to wall-clock time, for A/V sync). Taps run on the event
loop, on the receive hot path: they must be quick, allocate little and never raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vidconsult.ports import PublishedTrack


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    track_sid: str
    kind: str  # "audio" | "video"
    codec: str  # mime type: "video/VP8", "video/H264", "audio/opus"
    # one encoded frame: a VP8 frame, an H264 access unit in Annex-B, one Opus packet
    data: bytes
    rtp_timestamp: int  # as sent by the publisher (32-bit, wraps)
    clock_rate: int  # 90000 for video, 48000 for Opus
    keyframe: bool
    arrival: float  # time.monotonic() when the last packet of the frame arrived


@dataclass(frozen=True, slots=True)
class SenderReport:
    """An RTCP SR of the publisher: ``ntp_time`` (seconds since 1900, float) corresponds to
    ``rtp_timestamp`` on the track's media clock."""

    track_sid: str
    ntp_time: float
    rtp_timestamp: int
    arrival: float


class EncodedTap(Protocol):
    def on_frame(self, frame: EncodedFrame) -> None: ...

    def on_sender_report(self, report: SenderReport) -> None: ...

    def on_end(self, track_sid: str) -> None:
        """The track ended (publisher left, unpublished, room closed)."""


class TrackObserver(Protocol):
    """Engine-wide, synchronous notice of published / ended tracks (see docs/media.md, Taps)."""

    def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None: ...

    def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None: ...
