"""The boundary between the engine's signaling side and how media gets forwarded.

The engine hands every published track to a :class:`Forwarder` (``attach``) and asks it for
one output track per subscription (``subscribe``), which it puts on the subscriber's
RTCRtpSender. Everything about frames and packets stays behind this interface: the current
implementations: :class:`media.passthrough.PassthroughForwarder` (``forward_mode=
"passthrough"``, encoded RTP rewritten per subscriber) and :class:`media.relay.RelayForwarder`
(``"reencode"``: decode once, encode per subscriber).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiortc import RTCRtpCodecCapability, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack

from media.config import MediaConfig

if TYPE_CHECKING:
    from media.ingress import Ingress


@dataclass(frozen=True, slots=True)
class PublisherSource:
    """A published track as the forwarder receives it."""

    track_sid: str
    kind: str  # "audio" | "video"
    codec: str  # negotiated mime type, e.g. "video/VP8"
    track: MediaStreamTrack  # aiortc's decoded remote track
    receiver: RTCRtpReceiver  # RTP-level access, for an encoded passthrough
    ingress: Ingress | None = None  # the receive-path hook (media/ingress.py)


@dataclass(slots=True)
class ForwarderStats:
    sources: int = 0
    outputs: int = 0
    frames_in: int = 0
    frames_out: int = 0


class Forwarder(Protocol):
    def attach(self, source: PublisherSource) -> None:
        """Start consuming a published track (consumed even while nobody subscribes)."""

    def detach(self, track_sid: str) -> None:
        """The track ended: stop consuming; its outputs go idle (they stay reusable)."""

    def subscribe(self, track_sid: str, reuse: MediaStreamTrack | None = None) -> MediaStreamTrack:
        """An output track carrying ``track_sid``, for one RTCRtpSender. With ``reuse`` (an
        idle output of this forwarder, same kind, already on a sender) that output is re-pointed
        and returned, so the sender keeps running."""
        ...

    def bind(self, output: MediaStreamTrack, sender: RTCRtpSender) -> None:
        """``output`` (new from :meth:`subscribe`) was put on ``sender``; called once."""

    def unsubscribe(self, output: MediaStreamTrack) -> None:
        """The output stops carrying its track and goes idle (reusable)."""

    def release(self, output: MediaStreamTrack) -> None:
        """The output's sender is gone: drop it for good."""

    def set_muted(self, track_sid: str, muted: bool) -> None:
        """While muted, nothing of the track reaches its outputs."""

    def codec_preferences(self, track_sid: str) -> list[RTCRtpCodecCapability] | None:
        """Codecs a subscriber's transceiver must offer for this track (None: any)."""
        ...

    def link(self, output: MediaStreamTrack) -> dict[str, Any] | None:
        """What the output's subscriber gets of its track (simulcast layer, paused, its
        link's estimate); None where the forwarder does not adapt (re-encoding)."""
        ...

    def stats(self) -> ForwarderStats: ...

    async def close(self) -> None: ...


def create_forwarder(config: MediaConfig) -> Forwarder:
    if config.forward_mode == "reencode":
        from media.relay import RelayForwarder

        return RelayForwarder()
    if config.forward_mode == "passthrough":
        from media.passthrough import PassthroughForwarder

        return PassthroughForwarder()
    raise ValueError(f"forward_mode {config.forward_mode!r} is not implemented")
