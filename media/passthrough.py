"""Encoded passthrough: the ``passthrough`` :class:`~media.forwarding.Forwarder`.

Nothing is decoded or re-encoded. Every RTP packet a publisher's receiver gets is handed by the
track's :class:`~media.ingress.Ingress` to one :class:`_Source`, which rewrites and sends it to
each subscriber's :class:`~media.downstream.Downstream` (VP8, H264, Opus: whatever codec the
publisher negotiated; subscribers are made to negotiate the same one). Per packet and
subscriber that is: one header pack, one SRTP protect, one ``sendto``.

A failure in one downstream disables that downstream only (logged once); the others and the
publisher's connection keep going.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpCodecCapability, RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack

from media.downstream import Downstream, IdleTrack
from media.forwarding import ForwarderStats, PublisherSource
from media.ingress import Ingress
from media.keyframe_cache import KeyframeCache
from media.layers import LayerRates
from media.rtp_wire import starts_keyframe

logger = logging.getLogger(__name__)


class _Source:
    def __init__(self, info: PublisherSource, ingress: Ingress) -> None:
        self.info = info
        self.ingress = ingress
        self.kind = info.kind
        self.mime = info.codec.lower()
        self.video = info.kind == "video"
        self.downstreams: tuple[Downstream, ...] = ()
        self.muted = False
        self.packets_in = 0
        self.packets_out = 0
        self.dropped_codec = 0
        self.latency: Any = None  # optional probe with .add(nanoseconds), for the benchmark
        self.trace: Callable[[str], None] | None = None  # the join benchmark's (join_trace.py)
        self.layers = ingress.layer_count
        self.rates = LayerRates(self.layers)
        # the last whole keyframe per layer, sent at once to a new subscriber (start_with)
        self.keyframes = KeyframeCache(self.layers, self.mime) if self.video else None
        ingress.sink = self.on_packet

    def on_packet(
        self,
        pt: int,
        seq: int,
        ts: int,
        marker: int,
        payload: bytes,
        level: Any,
        arrival_ns: int,
        layer: int = 0,
    ) -> None:
        self.packets_in += 1
        if self.packets_in == 1 and self.trace is not None:
            self.trace("firstVideoIn" if self.video else "firstAudioIn")
        if pt != self.ingress.primary_pt:
            self.dropped_codec += 1
            return
        now = time.monotonic()
        if self.video:
            self.rates.add(layer, len(payload) + 12, now, ts)
            if not self.muted:
                self.keyframes.add(layer, seq, ts, marker, payload, now)  # type: ignore[union-attr]
        if self.muted or not self.downstreams:
            return
        downstreams = self.downstreams
        keyframe = True
        if self.video:
            for d in downstreams:
                sel = d.selector
                if sel.target is not None and sel.current != sel.target:  # d.waiting
                    keyframe = starts_keyframe(self.mime, payload)
                    break
        probe = self.latency
        for d in downstreams:
            try:
                d.forward(layer, seq, ts, marker, payload, level, keyframe, now)
            except Exception:
                self._failed(d)
                continue
            if probe is not None:
                probe.add(time.perf_counter_ns() - arrival_ns)
        self.packets_out += len(downstreams)

    def _failed(self, d: Downstream) -> None:
        logger.exception("downstream failed, it stops receiving track=%s", self.info.track_sid)
        d.failed = True
        self.remove(d)

    def add(self, d: Downstream) -> None:
        d.source = self
        d.attached(self.layers)
        self.downstreams = (*self.downstreams, d)
        if d.ready:  # otherwise it asks once its connection is up (Downstream._configure)
            self.request_keyframe(d.selector.target, new_since=time.monotonic())

    def prime(self, d: Downstream) -> None:
        """A downstream that has just become able to receive starts with the kept keyframe of
        its layer, if there is one (the live keyframe is asked for all the same). Only when
        its sender starts (Downstream._configure: the subscriber's answer is applied): an
        output re-pointed to this source (``add`` on a ready downstream) is being offered
        again, and what is sent before the subscriber's answer would be lost, leaving a gap
        it cannot have repaired."""
        if self.keyframes is None or self.muted or d.selector.target is None:
            return
        now = time.monotonic()
        packets = self.keyframes.get(d.selector.target, now)
        if packets:
            try:
                d.start_with(d.selector.target, packets, now)
            except Exception:
                self._failed(d)

    def remove(self, d: Downstream) -> None:
        self.downstreams = tuple(x for x in self.downstreams if x is not d)
        if d.source is self:
            d.source = None

    def request_keyframe(self, layer: int | None = None, *, new_since: float | None = None) -> None:
        """A keyframe of ``layer`` (None: of every layer being sent); ``new_since``: see
        Ingress.request_keyframe."""
        self.ingress.request_keyframe(layer, new_since=new_since)

    def set_muted(self, muted: bool) -> None:
        if muted and self.keyframes is not None:
            self.keyframes.clear()  # a picture from before the mute must not show after it
        if self.muted and not muted:
            for d in self.downstreams:
                d.restart()
            self.request_keyframe()
        self.muted = muted


class PassthroughForwarder:
    """Forwards encoded RTP; outputs are :class:`IdleTrack` s bound to their sender."""

    def __init__(self) -> None:
        self._sources: dict[str, _Source] = {}
        self._outputs: dict[IdleTrack, Downstream | None] = {}
        self._pending: dict[IdleTrack, str] = {}  # subscribed before bind()
        #: outputs made by :meth:`spare`, not yet fed: their subscriber receives already
        self._spares: set[IdleTrack] = set()
        self._done = ForwarderStats()

    def attach(self, source: PublisherSource) -> None:
        if source.track_sid in self._sources:
            raise ValueError(f"track {source.track_sid} is already attached")
        if source.ingress is None:
            raise ValueError("passthrough needs the track's ingress hook")
        source.ingress.decode = False
        self._sources[source.track_sid] = _Source(source, source.ingress)

    def detach(self, track_sid: str) -> None:
        src = self._sources.pop(track_sid, None)
        if src is None:
            return
        src.ingress.sink = None
        self._done.frames_in += src.packets_in
        for d in src.downstreams:
            src.remove(d)
        for output, sid in list(self._pending.items()):
            if sid == track_sid:
                del self._pending[output]

    def subscribe(self, track_sid: str, reuse: MediaStreamTrack | None = None) -> MediaStreamTrack:
        src = self._sources.get(track_sid)
        if src is None:
            raise KeyError(track_sid)
        live = (
            isinstance(reuse, IdleTrack) and reuse in self._spares
        )  # negotiated ahead: its subscriber receives already
        if reuse is not None:
            if not isinstance(reuse, IdleTrack) or reuse not in self._outputs:
                raise ValueError("can only reuse an output of this forwarder")
            if reuse.kind != src.kind:
                raise ValueError(f"cannot reuse a {reuse.kind} output for {src.kind}")
            self.unsubscribe(reuse)
            output = reuse
        else:
            output = IdleTrack(src.kind)
            self._outputs[output] = None
        d = self._outputs[output]
        if d is None:
            self._pending[output] = track_sid
        else:
            src.add(d)
            if live:
                # negotiated before: the subscriber receives what is sent from now on, so the
                # kept keyframe goes at once (no answer to wait for, see _Source.prime)
                src.prime(d)
        return output

    def spare(self, kind: str) -> IdleTrack:
        """An output fed by nothing yet, for a subscriber slot negotiated ahead of its track
        (a prepared connection's, docs/protocol.md "Prepare"): it sends no RTP until
        :meth:`subscribe` re-points it (``reuse``), and from then on at once."""
        output = IdleTrack(kind)
        self._outputs[output] = None
        self._spares.add(output)
        return output

    def spare_fits(self, output: MediaStreamTrack, track_sid: str) -> bool:
        """Whether the spare ``output`` can carry ``track_sid`` as negotiated: its connection
        is up with the source's codec (the passthrough does not transcode)."""
        src = self._sources.get(track_sid)
        d = self._outputs.get(output) if isinstance(output, IdleTrack) else None
        return (
            output in self._spares
            and src is not None
            and d is not None
            and d.ready
            and not d.failed
            and d.source is None
            and d.kind == src.kind
            and d.mime == src.mime
        )

    def spare_preferences(self, kind: str) -> list[RTCRtpCodecCapability] | None:
        """The codec a spare slot of ``kind`` is negotiated with: what browsers publish by
        default (Opus, VP8); a publisher on another codec gets a slot of its own."""
        return same_codec(kind, "audio/opus" if kind == "audio" else "video/vp8", None)

    def bind(self, output: MediaStreamTrack, sender: RTCRtpSender) -> None:
        if not isinstance(output, IdleTrack) or output not in self._outputs:
            return
        d = Downstream(output, sender)
        self._outputs[output] = d
        output.downstream = d
        sid = self._pending.pop(output, None)
        src = self._sources.get(sid) if sid is not None else None
        if src is not None:
            src.add(d)

    def unsubscribe(self, output: MediaStreamTrack) -> None:
        if not isinstance(output, IdleTrack):
            return
        self._pending.pop(output, None)
        self._spares.discard(output)
        d = self._outputs.get(output)
        if d is not None and d.source is not None:
            d.source.remove(d)

    def release(self, output: MediaStreamTrack) -> None:
        if isinstance(output, IdleTrack) and output in self._outputs:
            self.unsubscribe(output)
            self._spares.discard(output)
            d = self._outputs.pop(output)
            if d is not None:
                self._done.frames_out += d.packets
            output.stop()

    def set_muted(self, track_sid: str, muted: bool) -> None:
        src = self._sources.get(track_sid)
        if src is not None:
            src.set_muted(muted)

    def codec_preferences(self, track_sid: str) -> list[RTCRtpCodecCapability] | None:
        src = self._sources.get(track_sid)
        if src is None:
            return None
        return same_codec(src.kind, src.mime, src.ingress.codec_parameters())

    def link(self, output: MediaStreamTrack) -> dict[str, Any] | None:
        d = self._outputs.get(output) if isinstance(output, IdleTrack) else None
        return None if d is None else d.link()

    def source(self, track_sid: str) -> _Source | None:
        return self._sources.get(track_sid)

    def stats(self) -> ForwarderStats:
        return ForwarderStats(
            sources=len(self._sources),
            outputs=len(self._outputs),
            frames_in=self._done.frames_in + sum(s.packets_in for s in self._sources.values()),
            frames_out=self._done.frames_out
            + sum(d.packets for d in self._outputs.values() if d is not None),
        )

    async def close(self) -> None:
        for sid in list(self._sources):
            self.detach(sid)
        for output in list(self._outputs):
            self.release(output)


def same_codec(
    kind: str, mime: str, parameters: dict[str, Any] | None
) -> list[RTCRtpCodecCapability] | None:
    """The subscriber's codec list: the publisher's codec (same fmtp for H264) and its RTX."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [
        c
        for c in capabilities
        if c.mimeType.lower() == mime
        and (
            mime != "video/h264"
            or parameters is None
            or (
                c.parameters.get("packetization-mode") == parameters.get("packetization-mode")
                and c.parameters.get("profile-level-id") == parameters.get("profile-level-id")
            )
        )
    ]
    if not chosen:
        return None
    chosen = chosen[:1]
    if kind == "video":
        chosen += [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
    return chosen
