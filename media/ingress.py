"""``Ingress``: the hook on a publisher's RTCRtpReceiver, the one place encoded media leaves
aiortc's receive path.

aiortc 1.16 has no public encoded-frame hook. The ingress is installed on the receiver in the
publish connection's ``track`` event, i.e. during ``setRemoteDescription`` and *before*
``receive()`` starts the decoder thread (see :mod:`media.compat` for the internals checked):

* every RTP packet goes to ``sink`` (the passthrough fan-out) first, RTX already unwrapped;
* while ``decode`` is not set (passthrough), aiortc's own receive path is skipped: nothing is
  decoded, so its depacketiser, jitter buffer, bandwidth estimator and source bookkeeping are
  not needed. The ingress keeps what the publisher must still get (issue 15: this path cost
  more than the forwarding itself): the receive statistics aiortc's RTCP loop turns into
  receiver reports (same table) and NACKs for gaps, by aiortc's classes fed with a packet's
  fields (:mod:`media.receive_stats`), and, only while a tap
  (the recorder) listens, depacketisation and frame assembly by aiortc's jitter buffer, whose
  picture-loss signal becomes a (throttled) PLI. A bitrate cap (the lowest of the manual one
  and, for a track without simulcast, its weakest limited subscriber link's: ``set_cap``) is
  repeated by REMB every ``REMB_EVERY`` instead of clamping aiortc's estimates;
* while ``decode`` is set (reencode mode), packets take aiortc's full path; the decoder queue is
  replaced by a :class:`_FrameQueue`: complete encoded frames go to the taps, and to the
  decoder thread. The ``None`` that ``stop()`` puts in always reaches the thread, so it exits;
* the publisher's sender reports go to the taps;
* REMB sent by aiortc's receiver (reencode mode) is clamped to ``bitrate_cap``;
* a simulcast track (``simulcast`` set by the publish session) has its packets tagged with
  their layer for the sink, only the recorded layer reaches aiortc's receive path, and
  aiortc's REMBs are not sent (only caps are): see :mod:`media.simulcast`.

Everything here runs inside the transport's receive loop, where an exception would stop all
RTP reception of the publisher's connection: the sink, the taps and the clamp contain their
own errors.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)

from media import compat, intake
from media.receive_stats import NackTracker, ReceiveStatistics
from media.rtp_wire import frame_is_keyframe, starts_keyframe
from media.simulcast import SimulcastDemux
from media.taps import EncodedFrame, EncodedTap, SenderReport

logger = logging.getLogger(__name__)

#: minimum spacing of PLIs sent to a publisher; a request inside the window is sent at its end.
#: A subscriber that has just become able to receive is not held by it (``request_keyframe``).
PLI_INTERVAL = 0.5

#: sink(payload_type, sequence, timestamp, marker, payload, audio_level, arrival_ns, layer)
PacketSink = Callable[[int, int, int, int, bytes, Any, int, int], None]

RECORD_KEYFRAME_RETRY = 1.0  # seconds between keyframe requests for the recorded layer

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

#: seconds between REMBs repeating a bitrate cap (passthrough: no estimate is sent)
REMB_EVERY = 1.0
#: bit/s told to a publisher whose subscribers' links no longer hold it down (set_cap): far
#: above any camera's rate, so its own estimate rules again
RELEASE_BPS = 50_000_000


class Ingress:
    def __init__(
        self,
        receiver: RTCRtpReceiver,
        kind: str,
        codecs: list[RTCRtpCodecParameters],
        *,
        decode: bool,
    ) -> None:
        self.receiver = receiver
        self.kind = kind
        self.decode = decode
        self.track_sid = ""
        self.mime = ""  # lower-case mime type of the primary codec, once known
        self.clock_rate = 90000 if kind == "video" else 48000
        self.primary_pt: int | None = None
        self._codec_parameters: dict[str, Any] | None = None
        self.sink: PacketSink | None = None
        self.taps: tuple[EncodedTap, ...] = ()
        self.taps_muted = False
        #: bit/s told to the publisher, 0 = none: the lowest of ``manual_cap`` and ``links_cap``
        #: (set_cap; read per packet, so kept as a plain attribute)
        self.bitrate_cap = 0
        self.manual_cap = 0  # bit/s: engine.set_bitrate_cap's (WeakLinks.apply), 0 = none
        #: bit/s: what the weakest limited subscriber link of a track without simulcast carries
        #: (Downstream, docs/media.md "Pacing"), 0 = none
        self.links_cap = 0
        self.media_ssrc: int | None = None
        self.packets_in = 0
        self._rtx: dict[int, int] = {}  # rtx payload type -> primary payload type
        self._rtx_ssrc: dict[int, int] = {}  # rtx ssrc -> media ssrc
        self._codec_mimes: dict[int, str] = {}
        self._failed_taps: set[int] = set()
        self._sink_failed = False
        self._receive_failed = False
        self._last_pli = -PLI_INTERVAL
        self._last_pli_at = float("-inf")  # time.monotonic() of the last PLI
        self._pli_pending: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.plis_sent = 0
        self.simulcast: SimulcastDemux | None = None
        #: a section carrying one layer of another section's simulcast track (a node relay's
        #: leg): its packets are that track's ingress's (media/publisher.py)
        self.merge_into: Ingress | None = None
        self._pli_ssrcs: set[int] = set()
        self._record_asked = 0.0
        self._cap_packet: RtcpPsfbPacket | None = None
        self._codecs: dict[int, RTCRtpCodecParameters] = {}
        # the receiver's own table of receive statistics: its RTCP loop reports from it
        self._streams: dict[int, Any] = getattr(receiver, compat.RECEIVER_REMOTE_STREAMS)
        self._nack = NackTracker() if kind == "video" else None
        self._jitter: JitterBuffer | None = None  # frame assembly, only while taps listen
        self._remb_at = 0.0  # time.monotonic() the cap was last repeated
        self.intake: intake.Intake | None = None  # set at the first packet (passthrough)
        self.level_id = 0  # negotiated id of the ssrc-audio-level extension, 0 = none
        self._configure_codecs(codecs)
        self._install()

    # --- installation (before receive() starts) ---

    def _install(self) -> None:
        r = self.receiver
        real = getattr(r, compat.RECEIVER_DECODER_QUEUE)
        if getattr(r, compat.RECEIVER_DECODER_THREAD) is not None or not isinstance(
            real, queue.Queue
        ):
            raise compat.MediaCompatibilityError("receiver started before the ingress hook")
        setattr(r, compat.RECEIVER_DECODER_QUEUE, _FrameQueue(self))
        orig_receive = r.receive
        orig_rtp = r._handle_rtp_packet
        orig_rtcp = r._handle_rtcp_packet
        orig_send_rtcp = r._send_rtcp

        async def receive(parameters: RTCRtpReceiveParameters) -> None:
            self._configure(parameters)
            await orig_receive(parameters)

        async def handle_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
            if not self.decode:
                self.rtp(packet)
                if self.intake is None:
                    self.intake = intake.attach(r, self)
                return
            taken = self._take(packet)
            if taken is not None:
                await orig_rtp(taken[0], arrival_time_ms)

        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpSrPacket) and self.taps:
                self._sender_report(packet)
            await orig_rtcp(packet)

        async def send_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                if self.simulcast is not None and packet is not self._cap_packet:
                    return  # see media/simulcast.py: the browser's own estimate governs
                if self.bitrate_cap:
                    packet = self._clamp_remb(packet)
            await orig_send_rtcp(packet)

        r.receive = receive  # type: ignore[method-assign]
        r._handle_rtp_packet = handle_rtp  # type: ignore[method-assign]
        self.entry = handle_rtp  # the intake checks it is still the receiver's entry point
        r._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
        r._send_rtcp = send_rtcp  # type: ignore[method-assign]

    def _configure(self, parameters: RTCRtpReceiveParameters) -> None:
        self._configure_codecs(parameters.codecs)
        for ext in parameters.headerExtensions:
            if ext.uri == AUDIO_LEVEL_URI:
                self.level_id = ext.id
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc

    def _configure_codecs(self, codecs: list[RTCRtpCodecParameters]) -> None:
        self.primary_pt = None
        for codec in codecs:
            if codec.payloadType is None:  # only negotiated codecs (with a type) come here
                continue
            mime = codec.mimeType.lower()
            self._codec_mimes[codec.payloadType] = mime
            self._codecs[codec.payloadType] = codec
            if mime.endswith("/rtx"):
                apt = codec.parameters.get("apt")
                if isinstance(apt, int):
                    self._rtx[codec.payloadType] = apt
            elif self.primary_pt is None:
                self.primary_pt = codec.payloadType
                self.mime = mime
                self.clock_rate = codec.clockRate
                self._codec_parameters = dict(codec.parameters)

    @property
    def layer_count(self) -> int:
        return 1 if self.simulcast is None else self.simulcast.layers

    def codec_parameters(self) -> dict[str, Any] | None:
        """fmtp parameters of the codec the publisher sends (e.g. H264 profile-level-id)."""
        return self._codec_parameters

    # --- receive path ---

    def rtp(self, packet: RtpPacket) -> None:
        """A packet of a forwarded (not decoded) track: from aiortc's receive task, or straight
        from the socket (:mod:`media.intake`)."""
        merged = self.merge_into
        if merged is not None:
            merged.rtp(packet)
            return
        try:
            if self.simulcast is None:  # _take without its tuple: one layer
                self._single_take(packet)
                self._receive(packet)
                return
            taken = self._simulcast_take(packet)
            if taken is not None:
                self._receive(taken[0], taken[1])
        except Exception:
            if not self._receive_failed:
                self._receive_failed = True
                logger.exception("receive path failed track=%s", self.track_sid)

    def plain(self, data: bytes) -> bool:
        """A decrypted RTP packet of a forwarded track straight from the socket
        (:mod:`media.intake`), on the common path: one layer, no RTX, no tap listening, not
        merged into another ingress, media flowing (``media_ssrc`` known). What :meth:`rtp`
        does then, without an ``RtpPacket``: the header's fields read once
        (:func:`media.intake.rtp_fields`) and handed on. Returns False, having done nothing,
        for any other packet (the caller parses it for :meth:`rtp`); raises ValueError, having
        done nothing, for a malformed one (dropped, as aiortc does)."""
        if (
            self.simulcast is not None
            or self.merge_into is not None
            or self.media_ssrc is None
            or (self.taps and not self.taps_muted)
        ):
            return False
        fields = intake.rtp_fields(data, self.level_id)
        if fields is None:
            return False
        pt, marker, seq, ts, ssrc, payload, level = fields
        if pt in self._rtx:
            return False
        try:
            if pt == self.primary_pt:
                self.media_ssrc = ssrc
            sink = self.sink
            if sink is not None:
                arrival_ns = time.perf_counter_ns()
                self.packets_in += 1
                try:
                    sink(pt, seq, ts, marker, payload, level, arrival_ns, 0)
                except Exception:
                    if not self._sink_failed:
                        self._sink_failed = True
                        logger.exception("passthrough sink failed track=%s", self.track_sid)
            # _receive
            stats = self._streams.get(ssrc)
            if stats is None:
                codec = self._codecs.get(pt)
                if codec is None:
                    return True
                stats = self._streams[ssrc] = ReceiveStatistics(codec.clockRate)
            if type(stats) is ReceiveStatistics:
                stats.add_fields(seq, ts)
            else:  # aiortc's own (made while the track was decoded)
                stats.add(RtpPacket(pt, marker, seq, ts, ssrc))
            nack = self._nack
            if nack is not None and nack.add_seq(seq):
                self._spawn(self.receiver._send_rtcp_nack(ssrc, sorted(nack.missing)))
            if self.bitrate_cap:
                now = time.monotonic()
                if now - self._remb_at >= REMB_EVERY:
                    self._remb_at = now
                    self._spawn(self.send_remb(self.bitrate_cap))
        except Exception:
            if not self._receive_failed:
                self._receive_failed = True
                logger.exception("receive path failed track=%s", self.track_sid)
        return True

    def _take(self, packet: RtpPacket) -> tuple[RtpPacket, int] | None:
        """Hands the packet to the sink; returns what continues on the receive path (RTX of
        a simulcast layer unwrapped) and its layer, or None."""
        if self.simulcast is not None:
            return self._simulcast_take(packet)
        self._single_take(packet)
        return packet, 0

    def _single_take(self, packet: RtpPacket) -> None:
        """_take of a track without simulcast: the packet continues as it is, layer 0."""
        if self.media_ssrc is None and packet.payload_type == self.primary_pt:
            self.media_ssrc = packet.ssrc
            if self.bitrate_cap:  # a cap set before media flowed: tell it now
                self._spawn(self.send_remb(self.bitrate_cap))
        if self.sink is not None:
            self._to_sink(packet)

    def _simulcast_take(self, packet: RtpPacket) -> tuple[RtpPacket, int] | None:
        demux = self.simulcast
        assert demux is not None
        pt = packet.payload_type
        rtx = pt in self._rtx
        ext = packet.extensions
        layer = demux.layer_of(
            packet.ssrc, ext.repaired_rtp_stream_id if rtx else ext.rtp_stream_id, rtx
        )
        if layer < 0:
            return None  # a stream not identified yet (its first packets carry the rid)
        now = time.monotonic()
        if not rtx:
            demux.seen(layer, now)
        if self.sink is not None:
            self._to_sink(packet, layer)
        wanted = demux.wanted_record_layer(now)
        if wanted is not None:
            if layer == wanted and not rtx and starts_keyframe(self.mime, packet.payload):
                demux.record_layer = wanted
                self.media_ssrc = packet.ssrc
                if self.bitrate_cap:
                    self._spawn(self.send_remb(self.bitrate_cap))
            elif now - self._record_asked > RECORD_KEYFRAME_RETRY:
                self._record_asked = now
                self.request_keyframe(wanted)
        if layer != demux.record_layer:
            return None
        if rtx:
            media_ssrc = demux.layer_ssrc[layer]
            if media_ssrc is None or len(packet.payload) < 2:
                return None
            packet = unwrap_rtx(packet, payload_type=self._rtx[pt], ssrc=media_ssrc)
        return packet, layer

    def _receive(self, packet: RtpPacket, layer: int = 0) -> None:
        """What a forwarded (not decoded) track needs of aiortc's receive path."""
        pt = packet.payload_type
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            codec = self._codecs.get(pt)
            if codec is None:
                return
            stats = self._streams[packet.ssrc] = ReceiveStatistics(codec.clockRate)
        stats.add(packet)
        if pt in self._rtx:
            media_ssrc = self._rtx_ssrc.get(packet.ssrc, self.media_ssrc)
            if media_ssrc is None or len(packet.payload) < 2:
                return
            packet = unwrap_rtx(packet, payload_type=self._rtx[pt], ssrc=media_ssrc)
        nack = self._nack
        if nack is not None and nack.add(packet):
            self._spawn(self.receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))
        if self.taps and not self.taps_muted:
            self._assemble(packet, layer)
        if self.bitrate_cap:
            now = time.monotonic()
            if now - self._remb_at >= REMB_EVERY:
                self._remb_at = now
                self._spawn(self.send_remb(self.bitrate_cap))

    def _assemble(self, packet: RtpPacket, layer: int) -> None:
        """Encoded frames for the taps, by aiortc's depacketiser and jitter buffer."""
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        try:
            packet._data = depayload(codec, packet.payload) if packet.payload else b""  # type: ignore[attr-defined]
        except ValueError:
            return
        jitter = self._jitter
        if jitter is None:
            video = self.kind == "video"
            jitter = self._jitter = (
                JitterBuffer(capacity=512, is_video=True)
                if video
                else JitterBuffer(capacity=16, prefetch=4)
            )
        lost, frame = jitter.add(packet)
        if lost:
            self.request_keyframe(layer if self.simulcast is not None else None)
        if frame is not None:
            self.frame(codec, frame, mapped=False)

    def _to_sink(self, packet: RtpPacket, layer: int = 0) -> None:
        try:
            arrival_ns = time.perf_counter_ns()
            pt = packet.payload_type
            payload = packet.payload
            seq = packet.sequence_number
            if pt in self._rtx:
                if len(payload) < 2:
                    return  # RTX padding
                pt = self._rtx[pt]
                seq = (payload[0] << 8) | payload[1]
                payload = payload[2:]
            elif pt == self.primary_pt and self.simulcast is None:
                self.media_ssrc = packet.ssrc
            self.packets_in += 1
            self.sink(  # type: ignore[misc]
                pt,
                seq,
                packet.timestamp,
                packet.marker,
                payload,
                packet.extensions.audio_level,
                arrival_ns,
                layer,
            )
        except Exception:
            if not self._sink_failed:
                self._sink_failed = True
                logger.exception("passthrough sink failed track=%s", self.track_sid)

    def frame(self, codec: Any, jitter_frame: Any, *, mapped: bool = True) -> None:
        """A complete encoded frame from the jitter buffer (called in the receive path);
        ``mapped``: its timestamp went through aiortc's timestamp mapper (decode mode)."""
        taps = self.taps
        if not taps or self.taps_muted:
            return
        try:
            mime = codec.mimeType.lower()
            data = jitter_frame.data
            encoded = EncodedFrame(
                track_sid=self.track_sid,
                kind=self.kind,
                codec=codec.mimeType,
                data=data,
                rtp_timestamp=compat.publisher_timestamp(self.receiver, jitter_frame.timestamp)
                if mapped
                else jitter_frame.timestamp & 0xFFFFFFFF,
                clock_rate=codec.clockRate,
                keyframe=frame_is_keyframe(mime, data),
                arrival=time.monotonic(),
            )
        except Exception:
            logger.exception("encoded frame not built track=%s", self.track_sid)
            return
        for tap in taps:
            try:
                tap.on_frame(encoded)
            except Exception:
                self._tap_failed(tap, "on_frame")

    def _sender_report(self, packet: RtcpSrPacket) -> None:
        info = packet.sender_info
        report = SenderReport(
            track_sid=self.track_sid,
            ntp_time=info.ntp_timestamp / (1 << 32),
            rtp_timestamp=info.rtp_timestamp,
            arrival=time.monotonic(),
        )
        for tap in self.taps:
            try:
                tap.on_sender_report(report)
            except Exception:
                self._tap_failed(tap, "on_sender_report")

    def _tap_failed(self, tap: EncodedTap, what: str) -> None:
        if id(tap) not in self._failed_taps:
            self._failed_taps.add(id(tap))
            logger.exception("tap %s failed track=%s tap=%r", what, self.track_sid, tap)

    def _clamp_remb(self, packet: RtcpPsfbPacket) -> RtcpPsfbPacket:
        if packet.fmt != RTCP_PSFB_APP:
            return packet
        try:
            bitrate, ssrcs = unpack_remb_fci(packet.fci)
        except ValueError:
            return packet
        if bitrate <= self.bitrate_cap:
            return packet
        return RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=packet.ssrc,
            media_ssrc=0,
            fci=pack_remb_fci(self.bitrate_cap, ssrcs),
        )

    # --- taps ---

    def add_tap(self, tap: EncodedTap) -> None:
        if tap not in self.taps:
            self.taps = (*self.taps, tap)
        if self.kind == "video":
            # a tap (the recorder) gets the best layer only: only that layer's stream is asked
            # for a keyframe, so a subscriber on a lower layer (a thin link) gets no keyframe's
            # burst it did not need; nothing seen yet (None): every layer's
            demux = self.simulcast
            self.request_keyframe(None if demux is None else demux.best(time.monotonic()))

    def remove_tap(self, tap: EncodedTap) -> None:
        self.taps = tuple(t for t in self.taps if t is not tap)
        if not self.taps:
            self._jitter = None  # a later tap starts from a fresh buffer

    def end(self) -> None:
        """The track ended: taps get ``on_end`` and are dropped; nothing more is forwarded."""
        taps, self.taps = self.taps, ()
        self.sink = None
        for tap in taps:
            try:
                tap.on_end(self.track_sid)
            except Exception:
                self._tap_failed(tap, "on_end")
        if self._pli_pending is not None:
            self._pli_pending.cancel()
            self._pli_pending = None

    # --- towards the publisher ---

    def request_keyframe(self, layer: int | None = None, *, new_since: float | None = None) -> None:
        """Send a PLI to the publisher, at most one per ``PLI_INTERVAL`` (a request inside
        the window is sent when it ends). With simulcast: for ``layer``'s stream (None: for
        every layer's).

        ``new_since``: the request is for a subscriber that can receive since that moment
        (``time.monotonic()``), e.g. its connection just came up. Unless a PLI went out after
        that moment (its keyframe reaches this subscriber too), it is sent at once: a keyframe
        asked for an older subscriber, or before this one could receive, must not make a
        person who just joined wait for the end of the window (issue 15: ~300 ms of the join
        time). At most one such PLI per subscriber that comes up."""
        if self.kind != "video":
            return
        demux = self.simulcast
        if demux is not None:
            ssrcs = demux.layer_ssrc if layer is None else demux.layer_ssrc[layer : layer + 1]
            self._pli_ssrcs.update(s for s in ssrcs if s is not None)
        loop = asyncio.get_running_loop()
        if new_since is not None and self._last_pli_at < new_since:
            if self._pli_pending is not None:
                self._pli_pending.cancel()
            self._send_pli()
            return
        if self._pli_pending is not None:
            return
        wait = self._last_pli + PLI_INTERVAL - loop.time()
        if wait > 0:
            self._pli_pending = loop.call_later(wait, self._send_pli)
        else:
            self._send_pli()

    def _send_pli(self) -> None:
        self._pli_pending = None
        loop = asyncio.get_running_loop()
        self._last_pli = loop.time()
        self._last_pli_at = time.monotonic()
        if self.simulcast is not None:
            ssrcs, self._pli_ssrcs = self._pli_ssrcs, set()
            for ssrc in ssrcs:
                self.plis_sent += 1
                self._spawn(self._pli(ssrc))
            return
        if self.media_ssrc is None:
            return  # nothing received yet: the first frame is a keyframe anyway
        self.plis_sent += 1
        self._spawn(self._pli(self.media_ssrc))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pli(self, ssrc: int) -> None:
        try:
            await self.receiver._send_rtcp_pli(ssrc)
        except Exception:
            logger.debug("PLI not sent track=%s", self.track_sid, exc_info=True)

    def set_cap(self, *, manual: int | None = None, links: int | None = None) -> None:
        """Set the manual cap and/or the subscribers' links' cap (bit/s, 0 = none); the
        publisher is held under the lowest. A cap lower than before is told by REMB at once;
        when the last cap goes, a REMB of ``RELEASE_BPS`` lifts the one told before (a
        publisher keeps obeying the last REMB it got). Otherwise the receive path repeats it
        every ``REMB_EVERY``."""
        if manual is not None:
            self.manual_cap = manual
        if links is not None:
            self.links_cap = links
        before = self.bitrate_cap
        caps = [c for c in (self.manual_cap, self.links_cap) if c]
        self.bitrate_cap = cap = min(caps) if caps else 0
        if self.media_ssrc is None or self.kind != "video" or cap == before:
            return
        if cap and (not before or cap < before):
            self._remb_at = time.monotonic()
            self._spawn(self.send_remb(cap))
        elif not cap:
            self._spawn(self.send_remb(RELEASE_BPS))

    async def send_remb(self, bitrate: int) -> None:
        """Tell the publisher the bitrate cap right away (aiortc's REMBs are clamped after)."""
        ssrc = compat.receiver_rtcp_ssrc(self.receiver)
        if ssrc is None or self.media_ssrc is None:
            return
        media = [self.media_ssrc]
        if self.simulcast is not None:
            media = [s for s in self.simulcast.layer_ssrc if s is not None] or media
        fci = pack_remb_fci(bitrate, media)
        packet = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=ssrc, media_ssrc=0, fci=fci)
        self._cap_packet = packet  # let through even to a simulcast publisher
        try:
            await self.receiver._send_rtcp(packet)
        except Exception:
            logger.debug("REMB not sent track=%s", self.track_sid, exc_info=True)


class _FrameQueue(queue.Queue):  # type: ignore[type-arg]
    """Stands in for the receiver's decoder queue: frames go to the taps, and to the decoder
    thread only while the ingress decodes. ``None`` (stop) always goes through."""

    def __init__(self, ingress: Ingress) -> None:
        super().__init__()
        self._ingress = ingress

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None)
            return
        ingress = self._ingress
        ingress.frame(item[0], item[1])
        if ingress.decode:
            super().put(item)
