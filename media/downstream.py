"""``Downstream``: one subscriber slot of the passthrough, i.e. one RTCRtpSender whose RTP the
forwarder writes itself.

The sender's own send loop reads a :class:`IdleTrack` (``recv()`` never returns, so it costs
nothing) and keeps doing the rest: SSRC, SDES/SR every second, the BYE, RTCP routing. The
downstream is the glue of three units, each testable alone:

* :class:`~media.layers.LayerSelector` (with :class:`~media.layers.LinkEstimate`): which
  simulcast layer this subscriber gets, from its REMB and receiver reports; a track without
  simulcast has one layer. Switches happen on a keyframe of the target layer; a subscriber whose
  link cannot carry the lowest layer gets no video (paused) until a retry fits;
* :class:`~media.rtp_munger.Munger` / :class:`~media.rtp_munger.Vp8Munger`: sequence numbers,
  timestamps and VP8 picture ids continued across switches (layer, source, mute);
* :class:`~media.packet_history.PacketHistory`: what was sent, for the subscriber's NACKs.

Per packet it writes the header (payload type, SSRC, rewritten numbers, mid / abs-send-time /
audio-level extensions: abs-send-time is what lets the subscriber's receiver estimate its
bandwidth and send REMB), SRTP-protects with the subscriber transport's session and sends on
the nominated ICE pair, synchronously. On the sender it takes over (instance attributes,
checked by :mod:`media.compat`):

* ``send``: learns the negotiated payload type, RTX, header-extension ids and mid;
* ``_retransmit`` (a subscriber's NACK): served from the history, as RTX when negotiated.
  Nothing goes upstream;
* ``_send_keyframe`` (a subscriber's PLI/FIR): relayed to the publisher (the layer being
  forwarded), throttled there;
* ``_handle_rtcp_packet``: REMB and receiver reports feed the link estimate first;
* ``_send_rtcp``: the SR carries the RTP timestamp of what was forwarded, extrapolated to now;
  packet and octet counters are kept on the sender as aiortc does.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    unpack_remb_fci,
)

from media import compat, intake
from media.layers import HEADROOM, KEEP, UP_HOLD, LayerSelector, LinkEstimate, LossMeter
from media.pacer import MAX_DELAY, Lane, Pacer
from media.packet_history import PacketHistory
from media.rtp_munger import Munger, Vp8Munger
from media.rtp_wire import (
    RTP_HEADER,
    RTP_VERSION_EXT,
    extension_block,
    extension_element,
    rtx_wrap,
)

if TYPE_CHECKING:
    from media.passthrough import _Source

logger = logging.getLogger(__name__)

H264_MIME = "video/h264"
VP8_MIME = "video/vp8"

KEYFRAME_RETRY = 1.0  # seconds waiting for a keyframe before asking again
#: seconds between keyframes asked because a packet the subscriber still NACKs was resent
#: as often as the history allows (the publisher side throttles PLIs too, Ingress)
LOST_KEYFRAME_SPACING = 0.5
#: seconds a resend on a paced link may take to arrive: the pacer's bound plus what a thin
#: link's own queue holds (300 kbit/s, 7.5 KB: 200 ms; docs/media.md "Pacing")
MAX_DELAY_SETTLE = MAX_DELAY + 0.2
CHOOSE_EVERY = 0.25  # seconds between layer decisions
#: a limited subscriber's link is paced at this many times the bitrate of the video layers it
#: gets, plus ``AUDIO_ALLOWANCE`` (audio is sent at once but taken from the same bucket), not
#: above what the link is known to carry (media/pacer.py; the reasons in docs/media.md, "Pacing")
PACE_FACTOR = 2.0
AUDIO_ALLOWANCE = 64_000  # bit/s on the wire: Opus at 32-48 kbit/s + 50 headers a second
PACE_FLOOR = 64_000  # bit/s: the pacing rate never goes under this...
#: ...nor under this many times the video layers' bitrate plus ``AUDIO_ALLOWANCE``: under it
#: the queue would only grow
PACE_MIN_FACTOR = 1.25
#: ...and not above this many times the subscriber's REMB: a pacer at the link's own rate
#: (REMB_SLACK x REMB reached it on the weak-link test's 300 kbit/s link) keeps the link's
#: short queue full, and every burst on top of it (a retransmission, audio) is dropped there
PACE_REMB_CAP = 1.25

_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
_ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


_pack_header = RTP_HEADER.pack
_CONNECTED = compat.DTLS_CONNECTED
_SENDER_OCTETS, _SENDER_PACKETS = compat.SENDER_OCTETS, compat.SENDER_PACKETS

#: the one-byte value of the audio-level element, by (voice activity << 7) | level
_LEVEL_BYTES = tuple(bytes((i,)) for i in range(256))


def _variable_block(fixed: bytes, ext_id: int, size: int) -> tuple[bytes, bytes]:
    """The extension block holding the ``fixed`` elements, then one element ``ext_id`` of
    ``size`` bytes whose value varies per packet: (what comes before the value, what after)."""
    elements = len(fixed) + 1 + size
    padding = -elements % 4
    head = b"\xbe\xde" + ((elements + padding) // 4).to_bytes(2, "big") + fixed
    return head + bytes(((ext_id << 4) | (size - 1),)), b"\x00" * padding


#: every live video downstream, to share a subscriber's REMB among its video tracks
_VIDEO_DOWNSTREAMS: weakref.WeakSet[Downstream] = weakref.WeakSet()
#: every downstream, audio too (looked through only when a link starts being paced)
_DOWNSTREAMS: weakref.WeakSet[Downstream] = weakref.WeakSet()


def _plain(data: bytes) -> bytes:
    return data


class _PacedLink:
    """A limited subscriber link's :class:`~media.pacer.Pacer` and the downstreams whose
    ``_sendto`` (and ``_resendto``) it has taken over: video through a lane each, audio
    straight (never queued)."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer
        self.members: weakref.WeakSet[Downstream] = weakref.WeakSet()

    def join(self, d: Downstream) -> None:
        if d in self.members:
            return
        self.members.add(d)
        if d.kind == "video" and d._protect is not None:
            # its packets reach the lane unprotected: stamped (abs-send-time) and protected
            # when they leave
            offset = 12 + len(d._ext_var_head) if d._abs_id else 0
            lane = self.pacer.lane(d._overflowed, d._protect, offset)
            d.lane = lane
            d._protect = _plain
            d._sendto, d._resendto = lane.send, lane.resend
        else:
            d._sendto = d._resendto = self.pacer.audio

    def end(self) -> None:
        """What waits goes now, in order; then every member sends straight again."""
        self.pacer.flush()
        self.pacer.close()
        for d in list(self.members):
            if d.lane is not None:
                d._protect = d.lane.protect
            d._sendto = d._resendto = d._raw_sendto
            d.lane = None
        self.members.clear()


#: the pacer of each subscriber link being paced, by the link's DTLS transport
_PACED: weakref.WeakKeyDictionary[Any, _PacedLink] = weakref.WeakKeyDictionary()


class IdleTrack(MediaStreamTrack):
    """The track on a passthrough sender: ``recv()`` waits until the track is stopped."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()
        self.downstream: Downstream | None = None

    async def recv(self) -> Any:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


class Downstream:
    """Rewrites and sends one source's packets to one subscriber's sender."""

    def __init__(self, output: IdleTrack, sender: RTCRtpSender) -> None:
        self.output = output
        self.kind = output.kind
        self.sender = sender
        self.source: _Source | None = None
        self.muted = False
        self.failed = False
        self.ready = False
        self.mime = ""
        self.clock_rate = 90000 if self.kind == "video" else 48000
        self._pt = 0
        self._rtx_pt: int | None = None
        self._rtx_seq = random.randrange(1 << 15)
        self._ssrc = sender._ssrc
        self._sender_vars = vars(sender)  # where the sender keeps its counters
        self._ext_head = b""  # the mid element, when negotiated
        self._level_id = 0  # ssrc-audio-level extension id, 0 = not negotiated
        self._abs_id = 0  # abs-send-time extension id, 0 = not negotiated
        self._ext_plain = b""  # the extension block when nothing varies per packet
        # the extension block around the per-packet value (abs-send-time or audio level):
        # head (profile, length, mid element, the element's id byte) + value + tail (padding)
        self._ext_var_head = b""
        self._ext_var_tail = b""
        self._dtls: Any = None
        self._protect: Callable[[bytes], bytes] | None = None
        # what sends a datagram: the socket's (``_raw_sendto``) or, while the subscriber's link
        # is paced, its pacer's (media/pacer.py); ``_resendto`` the same for retransmissions
        self._sendto: compat.SendTo | None = None
        self._resendto: compat.SendTo | None = None
        self._raw_sendto: compat.SendTo | None = None
        self._addr: Any = None
        self.lane: Lane | None = None  # this video's way through its link's pacer, if paced
        self._limited = False  # the last layer decision found the link limiting (_pace)
        self._fits_since: float | None = None  # a limited video without simulcast fits since
        self._unheld = 0.0  # its bit/s when it became limited, before its publisher was held
        self._seen_ts: int | None = None  # RTP timestamp of the last target packet seen
        self._asked = 0.0
        self._next_choice = 0.0
        self.munger = Munger(self.clock_rate)
        self.vp8: Vp8Munger | None = None
        self.history = PacketHistory()
        self.selector = LayerSelector(1)
        #: the one simulcast layer this downstream forwards, whatever its link (a node relay's
        #: leg, media/node_relay.py: one downstream per layer); None = chosen per its link
        self.pinned: int | None = None
        self.estimate = LinkEstimate()
        self.packets = 0
        self.octets = 0
        self.retransmitted = 0
        self.send_dropped = 0  # packets the socket refused at once (compat.datagram_sendto)
        self._lost_asked = float("-inf")  # when a keyframe was last asked for a lost packet
        self.loss = LossMeter()
        self.trace: Callable[[str], None] | None = None  # the join benchmark's (join_trace.py)
        if self.kind == "video":
            _VIDEO_DOWNSTREAMS.add(self)
        _DOWNSTREAMS.add(self)
        self._wrap_sender()

    @property
    def waiting(self) -> bool:
        """Waiting for a keyframe (of the target layer) to start or switch."""
        sel = self.selector
        return sel.target is not None and sel.current != sel.target

    @property
    def _last_seq(self) -> int | None:
        """The highest outgoing sequence number sent, None before the first packet."""
        return self.munger.max_seq if self.munger.started else None

    def link(self) -> dict[str, Any]:
        """What this subscriber gets of the track and what its link carries (for the
        room's link-quality indicator and the benchmarks)."""
        sel = self.selector
        bps = self.estimate.bps
        lane = self.lane
        return {
            "layers": sel.layers,
            "layer": sel.current,
            "target": sel.target,
            "paused": sel.paused,
            "estimate_kbps": None if bps is None else round(bps / 1000),
            "remb_kbps": None if self.estimate.remb is None else round(self.estimate.remb / 1000),
            "fraction_lost": round(self.estimate.fraction_lost, 3),
            "switches": sel.switches,
            "packets": self.packets,
            "retransmitted": self.retransmitted,
            "send_dropped": self.send_dropped,
            "paced": lane is not None,
            "paced_dropped": 0 if lane is None else lane.dropped,
            "paced_overflows": 0 if lane is None else lane.overflows,
            "pacer": None if lane is None else lane.pacer.stats(),
        }

    # --- sender takeover ---

    def _wrap_sender(self) -> None:
        sender = self.sender
        orig_send = sender.send
        orig_send_rtcp = sender._send_rtcp
        orig_handle_rtcp = sender._handle_rtcp_packet

        async def send(parameters: RTCRtpSendParameters) -> None:
            await orig_send(parameters)
            self._configure(parameters)

        async def retransmit(sequence_number: int) -> None:
            self._retransmit(sequence_number)

        def send_keyframe() -> None:
            self._ask_keyframe()

        async def send_rtcp(packets: list[Any]) -> None:
            self._fix_sender_report(packets)
            await orig_send_rtcp(packets)

        async def handle_rtcp(packet: Any) -> None:
            self._feedback(packet)
            await orig_handle_rtcp(packet)

        sender.send = send  # type: ignore[method-assign]
        sender._retransmit = retransmit  # type: ignore[method-assign]
        sender._send_keyframe = send_keyframe  # type: ignore[method-assign]
        sender._send_rtcp = send_rtcp  # type: ignore[method-assign]
        sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]

    def _configure(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0] if parameters.codecs else None
        if self.ready or codec is None or codec.payloadType is None:
            return  # negotiated codecs always carry a payload type; without one, not ready
        self._pt = codec.payloadType
        self.mime = codec.mimeType.lower()
        self.clock_rate = codec.clockRate
        self.munger.clock_rate = codec.clockRate
        if self.mime == VP8_MIME:
            self.vp8 = Vp8Munger()
        for c in parameters.codecs:
            if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == self._pt:
                self._rtx_pt = c.payloadType
                break
        ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
        mid = parameters.muxId
        if mid and _MID_URI in ids:
            self._ext_head = extension_element(ids[_MID_URI], mid.encode())
        if self.kind == "audio":
            self._level_id = ids.get(_LEVEL_URI, 0)
        else:
            self._abs_id = ids.get(_ABS_SEND_TIME_URI, 0)
        self._ext_plain = extension_block(self._ext_head)
        if self._abs_id:
            self._ext_var_head, self._ext_var_tail = _variable_block(
                self._ext_head, self._abs_id, 3
            )
        elif self._level_id:
            self._ext_var_head, self._ext_var_tail = _variable_block(
                self._ext_head, self._level_id, 1
            )
        dtls = self.sender.transport
        self._dtls = dtls
        self._protect, self._sendto, self._addr = compat.transport_writer(dtls)
        self._raw_sendto = self._resendto = self._sendto
        intake.attach_transport(dtls)  # the subscriber's RTCP taken in the socket callback
        self.ready = self._protect is not None
        paced = _PACED.get(dtls)
        if self.ready and paced is not None:
            paced.join(self)  # a new subscription on a link being paced
        if self.ready and self.source is not None:
            self.source.prime(self)  # a kept keyframe at once, while the live one is asked
        # the connection is up just now: a keyframe asked before could not reach it
        self._ask_keyframe(new=True)

    def attached(self, layers: int) -> None:
        """Now fed by a source with ``layers`` simulcast layers (1 without simulcast)."""
        if self.selector.layers != layers:
            self.selector = LayerSelector(layers)
        if self.pinned is not None:
            self.selector.target = min(self.pinned, layers - 1)
        self.restart()

    def pin(self, layer: int | None) -> None:
        """Forward ``layer`` only (None: choose per the link again), from its next keyframe."""
        self.pinned = layer
        if layer is not None and self.selector.layers > 1:
            self.selector.target = min(layer, self.selector.layers - 1)
            self.restart()
            self._ask_keyframe()

    # --- per packet (hot path) ---

    def forward(
        self,
        layer: int,
        seq: int,
        ts: int,
        marker: int,
        payload: bytes,
        level: Any,
        keyframe: bool,
        now: float,
    ) -> None:
        if not self.ready or self.muted:
            return
        sel = self.selector
        if sel.layers > 1 and self.pinned is None and now >= self._next_choice:
            self._next_choice = now + CHOOSE_EVERY
            self._choose(now)
        if sel.current != sel.target or layer != sel.current:
            if layer == sel.target and keyframe and self.mime == H264_MIME:
                # An H264 keyframe may be flagged on a packet inside its access unit (an IDR
                # NAL after the SPS/PPS packets): start only on a packet that begins its
                # frame, known from a packet of another frame seen just before.
                keyframe = self._seen_ts is not None and ts != self._seen_ts
            if layer == sel.target:
                self._seen_ts = ts
            admitted, switched = sel.admit(layer, keyframe)
            if not admitted:
                if self.waiting and now - self._asked > KEYFRAME_RETRY:
                    self._ask_keyframe(now)
                return
            if switched:
                if self.trace is not None and not self.packets:
                    self.trace("firstVideoOut" if self.kind == "video" else "firstAudioOut")
                self.munger.switch(seq, ts, now)
                self.history.floor = self.munger.max_seq
                if self.vp8 is not None:
                    self.vp8.switch()
                self._seen_ts = None
        munger = self.munger
        newest = munger.max_seq
        out = munger.rewrite(seq, ts, now)
        if out is None:
            return  # older than where this source started
        out_seq, out_ts = out
        packets = self.packets
        if packets:
            ahead = (out_seq - newest) & 0xFFFF
            if ahead != 1:  # in order (1) the loss meter has nothing to count
                self.loss.forwarded(ahead)
        if self.vp8 is not None:
            payload = self.vp8.rewrite(payload)
        if self._abs_id:
            # 6.18 fixed-point seconds
            ext = (
                self._ext_var_head
                + (int(now * 262144) & 0xFFFFFF).to_bytes(3, "big")
                + self._ext_var_tail
            )
        elif level is not None and self._level_id:
            ext = self._ext_var_head + _LEVEL_BYTES[level[0] * 0x80 | level[1]] + self._ext_var_tail
        else:
            ext = self._ext_plain
        data = (
            _pack_header(
                RTP_VERSION_EXT if ext else 0x80,
                (marker << 7) | self._pt,
                out_seq,
                out_ts,
                self._ssrc,
            )
            + ext
            + payload
        )
        if self._dtls._state is not _CONNECTED:
            return
        self.history.put(out_seq, data)
        if not self._sendto(self._protect(data), self._addr):  # type: ignore[misc]
            self.send_dropped += 1
            return  # not sent: the subscriber's NACK gets it from the history
        self.packets = packets = packets + 1
        self.octets = octets = self.octets + len(payload)
        # the sender's own counters (its stats): compat.set_sender_counters, inlined
        counters = self._sender_vars
        counters[_SENDER_OCTETS] = octets
        counters[_SENDER_PACKETS] = packets

    def start_with(
        self, layer: int, packets: list[tuple[int, int, int, bytes]], now: float
    ) -> bool:
        """Send a whole keyframe the source kept (media/keyframe_cache.py) to this downstream,
        which has just become able to receive and waits for a keyframe of ``layer``; then wait
        again, for the live keyframe asked at the same time. Sound for VP8 and H.264 alike: a
        keyframe decodes alone, and the delta frames that follow it at the publisher (which
        reference frames this subscriber never got) are not sent: forwarding resumes at the
        next live keyframe, whose sequence numbers, timestamp (plus the time passed) and VP8
        picture id continue this stream's (the munger's switch), so the receiver sees no gap to
        NACK. Returns whether it was sent."""
        sel = self.selector
        if not self.ready or self.muted or sel.target != layer or sel.current is not None:
            return False
        admitted, switched = sel.admit(layer, True)
        if not (admitted and switched):
            return False
        if self.trace is not None and not self.packets:
            self.trace("firstVideoOut")
        first_seq, first_ts = packets[0][0], packets[0][1]
        self.munger.switch(first_seq, first_ts, now)
        self.history.floor = self.munger.max_seq
        if self.vp8 is not None:
            self.vp8.switch()
        self._seen_ts = None
        for seq, ts, marker, payload in packets:
            self.forward(layer, seq, ts, marker, payload, None, True, now)
        self.restart()
        return True

    def _choose(self, now: float) -> None:
        source = self.source
        if source is None:
            return
        before = self.selector.target
        estimate = self.estimate
        target = self.selector.choose(
            estimate.bps,
            source.rates.bps,
            now,
            estimate.fraction_lost,
            pause_budget=estimate.loss_cap,  # a REMB alone under-reports too often to pause on
        )
        if target != before:
            logger.info(
                "layer target track=%s from=%s to=%s estimate_kbps=%s",
                source.info.track_sid,
                before,
                target,
                None if self.estimate.bps is None else round(self.estimate.bps / 1000),
            )
            if target is not None:
                self._ask_keyframe(now)
            if before is None and target is not None and estimate.loss_cap is not None:
                # video again after a pause: the loss cap that paused it has not moved since
                # (nothing sent, no loss measured) and would pause it again at the next
                # decision, every retry, for good (a good link paused by one burst of loss on
                # a loaded machine stayed at 17 kbit/s through five retries). The link is
                # taken to carry the layer tried until receiver reports over it say otherwise
                estimate.loss_cap = max(estimate.loss_cap, source.rates.bps[target])
        self._pace()

    # --- pacing (media/pacer.py) ---

    def _pace(self) -> None:
        """After a layer decision: pace this subscriber's link while it limits what the
        subscriber gets (a layer under the best one sent, from a known estimate), at
        ``PACE_FACTOR`` times the bitrate of the layers its video downstreams get; send straight
        again once none of them is limited. Nothing at all for a link that is not."""
        sel = self.selector
        source = self.source
        dtls = self._dtls
        if source is None or dtls is None or self._raw_sendto is None:
            return
        if sel.layers > 1:  # else _limited is _weigh_single's
            rates = source.rates.bps
            top = max((i for i, bps in enumerate(rates) if bps > 0), default=None)
            self._limited = (
                self.estimate.bps is not None
                and sel.target is not None
                and top is not None
                and sel.target < top
            )
        paced = _PACED.get(dtls)
        if paced is None:
            if not self._limited:
                return  # the common case
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            raw = self._raw_sendto
            link = weakref.ref(dtls)

            def sendto(data: bytes, addr: Any) -> bool:
                transport = link()
                return (
                    transport is not None
                    and transport._state is compat.DTLS_CONNECTED
                    and raw(data, addr)
                )

            paced = _PACED[dtls] = _PacedLink(
                Pacer(sendto, PACE_FLOOR, clock=loop.time, call_at=loop.call_at)
            )
            for d in list(_DOWNSTREAMS):
                if d._dtls is dtls and d.ready:
                    paced.join(d)
            logger.info(
                "pacing a limited link track=%s layer=%s estimate_kbps=%s",
                source.info.track_sid,
                sel.target,
                None if self.estimate.bps is None else round(self.estimate.bps / 1000),
            )
        video = [d for d in paced.members if d.kind == "video" and d.source is not None]
        if not any(d._limited for d in video):
            paced.end()
            del _PACED[dtls]
            logger.info("pacing ends track=%s layer=%s", source.info.track_sid, sel.target)
            return
        bps = sum(d._layer_bps() for d in video)
        rate = PACE_FACTOR * bps + AUDIO_ALLOWANCE
        rembs = [d.estimate.remb for d in video]
        if all(r is not None for r in rembs):
            # under what the link is known to carry (LinkEstimate: up to REMB_SLACK x REMB)
            rate = min(rate, PACE_REMB_CAP * sum(r for r in rembs if r is not None))
        paced.pacer.rate = max(PACE_FLOOR, rate, PACE_MIN_FACTOR * bps + AUDIO_ALLOWANCE)

    def _weigh_single(self, now: float) -> None:
        """After a REMB or receiver report of a video without simulcast (one layer, so no
        layer decision): is its link limited, i.e. paced (``_pace``) and the publisher held
        under what the link carries (``Ingress.set_cap``)? The selector's rules for one layer:
        limited from when the stream does not fit the estimate (its bitrate over ``KEEP`` x
        ``LinkEstimate.bps``, where the selector steps a layer down), until what the publisher
        is held to for this link (``_link_cap``) has, within ``HEADROOM``, room for what it sent
        before it was held (or sends now, if more) for ``UP_HOLD`` seconds (where the selector
        steps up). Not sooner: held, the stream follows the cap, so it always fits the link; a
        receiver's REMB reaches up to 1.5 x what arrives, so the cap climbs with the publisher
        on a link that has room, and stays on one that has not. Decided on feedback, ~1/s,
        never per packet."""
        source = self.source
        if source is None or self.pinned is not None or not source.rates.bps:
            return
        stream = source.rates.bps[0]
        estimate = self.estimate.bps
        if stream <= 0 or estimate is None:
            return  # nothing measured yet: as it was
        was = self._limited
        if not was:
            if stream > KEEP * estimate:
                self._limited = True
                self._unheld = stream
                self._fits_since = None
        elif max(self._unheld, stream) > HEADROOM * self._link_cap():
            self._fits_since = None
        elif self._fits_since is None:
            self._fits_since = now
        elif now - self._fits_since >= UP_HOLD - 1e-6:
            self._limited = False
            self._fits_since = None
        if not (was or self._limited):
            return  # the common case: a link that is not limited (nothing to pace or hold)
        ingress = getattr(source, "ingress", None)
        if ingress is not None:
            caps = [
                d._link_cap() for d in source.downstreams if d._limited and d.selector.layers == 1
            ]
            # every subscriber gets the one stream: held for the weakest limited link
            ingress.set_cap(links=round(min(caps)) if caps else 0)
        self._pace()

    def _link_cap(self) -> float:
        """Bit/s the publisher of a video without simulcast is held to for this link: its
        share of the subscriber's REMB (the receiver's own estimate, not ``REMB_SLACK`` x it)
        or the loss-based estimate if lower, not under ``PACE_FLOOR``."""
        estimate = self.estimate
        known = [x for x in (estimate.remb, estimate.loss_cap) if x is not None]
        return max(PACE_FLOOR, min(known)) if known else float("inf")

    def _layer_bps(self) -> float:
        """The bitrate of the layer this downstream gets (or is switching to), 0 if none."""
        sel = self.selector
        return self._rate_of(sel.target if sel.target is not None else sel.current)

    def _sending_bps(self) -> float:
        """The bitrate of the layer being forwarded now, 0 if none (or not measured)."""
        return self._rate_of(self.selector.current)

    def _rate_of(self, layer: int | None) -> float:
        """The measured bitrate of the source's ``layer``, 0 if none."""
        if self.source is None or layer is None:
            return 0.0
        rates = self.source.rates.bps
        return rates[layer] if layer < len(rates) else 0.0

    def _overflowed(self, dropped: int) -> None:
        """The pacer could not start a frame of this video within its bound (the link is
        behind) and dropped ``dropped`` packets: the frames after them would reference a
        frame never sent, so wait for a keyframe (asked now) instead; what the subscriber
        NACKs from before it is not resent (stale). The packets were never sent: not the
        link's loss (LossMeter), which would lower the estimate for what the pacer did."""
        self.loss.skipped += dropped
        self.history.floor = (self.munger.max_seq + 1) & 0xFFFF
        self.restart()
        self._ask_keyframe()

    def _ask_keyframe(self, now: float | None = None, *, new: bool = False) -> None:
        """``new``: this downstream has just become able to receive (not throttled upstream
        by requests made before that, see Ingress.request_keyframe)."""
        source = self.source
        if source is None:
            return
        self._asked = time.monotonic() if now is None else now
        sel = self.selector
        layer = sel.target if sel.target is not None else sel.current
        if new and self.trace is not None and self.kind == "video":
            self.trace("keyframeAsked")
        source.request_keyframe(layer, new_since=self._asked if new else None)

    # --- RTCP from the subscriber ---

    def _feedback(self, packet: Any) -> None:
        try:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if self._ssrc in ssrcs:
                    # the estimate covers the subscriber's whole link: this video's share
                    transport = self.sender.transport
                    videos = {
                        d._ssrc
                        for d in _VIDEO_DOWNSTREAMS
                        if d.sender.transport is transport and d.source is not None
                    }
                    self.estimate.on_remb(
                        bitrate / max(1, len(videos & set(ssrcs))), self._sending_bps()
                    )
                    if self.selector.layers == 1 and self.kind == "video":
                        self._weigh_single(time.monotonic())
            elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
                for report in packet.reports:
                    if report.ssrc == self._ssrc:
                        self._loss_report(report.packets_lost, report.highest_sequence)
                        if self.selector.layers == 1 and self.kind == "video":
                            self._weigh_single(time.monotonic())
        except Exception:
            logger.debug("feedback not understood", exc_info=True)

    def _loss_report(self, cumulative_lost: int, highest: int) -> None:
        """A receiver report's counters into the link's loss (LossMeter: not what never
        reached this server)."""
        measured = self.loss.report(
            time.monotonic(), cumulative_lost, highest, self.octets + 12 * self.packets
        )
        if measured is not None:
            self.estimate.on_loss(*measured)

    def _retransmit(self, seq: int) -> None:
        try:
            now = time.monotonic()
            data = self.history.resend(seq, now)
            # on a paced link a resend may be on its way for up to the pacer's bound plus a
            # thin link's queue; the receiver NACKs again meanwhile (every ~100 ms)
            settle = 0.0 if self.lane is None else MAX_DELAY_SETTLE
            if data is None and self.ready and self.history.exhausted(seq, now, settle):
                # Resent as often as allowed and still missing: the subscriber's VP8/H264
                # reference chain is broken until a keyframe. Its own PLI comes only when its
                # NACKing gives up (~10 round trips, seconds on a congested link), so ask now.
                if now - self._lost_asked >= LOST_KEYFRAME_SPACING:
                    self._lost_asked = now
                    logger.info("keyframe asked for a packet lost for good seq=%s", seq)
                    self._ask_keyframe(now)
                return
            if data is None or not self.ready:
                return
            if self._dtls._state is not compat.DTLS_CONNECTED:
                return
            if self._rtx_pt is not None:
                header_len = 12
                if data[0] & 0x10:
                    header_len += 4 + 4 * ((data[14] << 8) | data[15])
                data = rtx_wrap(
                    data, header_len, self._rtx_pt, self._rtx_seq, self.sender._rtx_ssrc
                )
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            send = self._resendto if self._resendto is not None else self._sendto
            if send(self._protect(data), self._addr):  # type: ignore[misc]
                self.retransmitted += 1
            else:
                self.send_dropped += 1
        except Exception:
            logger.debug("retransmission failed", exc_info=True)

    def _fix_sender_report(self, packets: list[Any]) -> None:
        """aiortc builds the SR from its own (unused) send loop's state: put ours in."""
        try:
            for i, packet in enumerate(packets):
                if isinstance(packet, RtcpSrPacket) and packet.ssrc == self._ssrc:
                    now = time.monotonic()
                    ntp = compat.ntp_now()
                    munger = self.munger
                    # extrapolated while waiting for a keyframe too: the stream resumes at
                    # the last timestamp plus the time passed (RtpMunger.switch), so a report
                    # holding last_ts would tie an old timestamp to now and place this
                    # track's frames late at the receiver (lip sync) until a later report;
                    # after a kept keyframe (start_with) that wait is a whole GOP
                    if munger.started:
                        rtp_ts = munger.timestamp_at(now)
                    else:
                        rtp_ts = munger.last_ts
                    packets[i] = RtcpSrPacket(
                        ssrc=self._ssrc,
                        sender_info=RtcpSenderInfo(
                            ntp_timestamp=ntp,
                            rtp_timestamp=rtp_ts & 0xFFFFFFFF,
                            packet_count=self.packets & 0xFFFFFFFF,
                            octet_count=self.octets & 0xFFFFFFFF,
                        ),
                    )
                    compat.set_sender_lsr(self.sender, ntp)
        except Exception:
            logger.debug("sender report not rewritten", exc_info=True)

    # --- lifecycle ---

    def restart(self) -> None:
        """The next packets come from another source, or after a mute: wait for a keyframe
        and continue this SSRC's sequence numbers and timestamps."""
        self.selector.restart()
        self._seen_ts = None
        self._asked = time.monotonic()
