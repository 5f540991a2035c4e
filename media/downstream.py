"""``Downstream``: one subscriber slot of the passthrough, i.e. one RTCRtpSender whose RTP the
forwarder writes itself.

The sender's own send loop reads a :class:`IdleTrack` (``recv()`` never returns, so it costs
nothing) and keeps doing the rest: SSRC, SDES/SR every second, the BYE, RTCP routing. The
downstream rewrites every forwarded packet (payload type, SSRC, sequence number, timestamp,
header extensions), SRTP-protects it with the subscriber transport's session and sends it on
the nominated ICE pair, synchronously. On the sender it takes over (instance attributes,
checked by :mod:`media.compat`):

* ``send``: learns the negotiated payload type, RTX, header-extension ids and mid;
* ``_retransmit`` (a subscriber's NACK): served from this downstream's own history of
  serialized packets, as RTX when negotiated. Nothing goes upstream;
* ``_send_keyframe`` (a subscriber's PLI/FIR): relayed to the publisher, throttled there;
* ``_send_rtcp``: the SR carries the RTP timestamp of what was forwarded, extrapolated to now;
  packet and octet counters are kept on the sender as aiortc does.

Sequence numbers are the source's plus a constant offset from the first forwarded packet (so
reordering, upstream retransmissions and losses map through 1:1); on a source switch or an
unmute they continue from the last one sent, and timestamps continue by wall-clock time.
Video starts at a keyframe: inter frames before it are dropped, and a keyframe is requested.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

from media import compat
from media.rtp_wire import (
    RTP_HEADER,
    RTP_VERSION_EXT,
    extension_block,
    extension_element,
    rtx_wrap,
)

logger = logging.getLogger(__name__)

H264_MIME = "video/h264"

HISTORY = 512  # packets kept per downstream for NACKs (~1 s of 1 Mbit/s video)
KEYFRAME_RETRY = 1.0  # seconds waiting for a keyframe before asking again

_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


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
        self.source: Any = None  # media.passthrough._Source
        self.muted = False
        self.failed = False
        self.ready = False
        self.mime = ""
        self.clock_rate = 90000 if self.kind == "video" else 48000
        self._pt = 0
        self._rtx_pt: int | None = None
        self._rtx_seq = random.randrange(1 << 15)
        self._ssrc = sender._ssrc
        self._ext_plain = b""
        self._level_head = b""  # mid element + audio-level id byte, when negotiated
        self._header_len = 12
        self._dtls: Any = None
        self._protect: Callable[[bytes], bytes] | None = None
        self._sendto: Callable[[bytes, Any], None] | None = None
        self._addr: Any = None
        # sequence / timestamp mapping
        self.waiting = True
        self._seen_ts: int | None = None  # RTP timestamp of the last packet seen while waiting
        self._seq_off = 0
        self._ts_off = 0
        self._first_seq = 0
        self._max_seq = 0
        self._last_seq: int | None = None
        self._last_ts = 0
        self._last_send = 0.0
        self._asked = 0.0
        self._history: list[bytes | None] = [None] * HISTORY
        self.packets = 0
        self.octets = 0
        self.retransmitted = 0
        self._wrap_sender()

    # --- sender takeover ---

    def _wrap_sender(self) -> None:
        sender = self.sender
        orig_send = sender.send
        orig_send_rtcp = sender._send_rtcp

        async def send(parameters: RTCRtpSendParameters) -> None:
            await orig_send(parameters)
            self._configure(parameters)

        async def retransmit(sequence_number: int) -> None:
            self._retransmit(sequence_number)

        def send_keyframe() -> None:
            source = self.source
            if source is not None:
                source.request_keyframe()

        async def send_rtcp(packets: list[Any]) -> None:
            self._fix_sender_report(packets)
            await orig_send_rtcp(packets)

        sender.send = send  # type: ignore[method-assign]
        sender._retransmit = retransmit  # type: ignore[method-assign]
        sender._send_keyframe = send_keyframe  # type: ignore[method-assign]
        sender._send_rtcp = send_rtcp  # type: ignore[method-assign]

    def _configure(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0] if parameters.codecs else None
        if self.ready or codec is None or codec.payloadType is None:
            return  # negotiated codecs always carry a payload type; without one, not ready
        self._pt = codec.payloadType
        self.mime = codec.mimeType.lower()
        self.clock_rate = codec.clockRate
        for c in parameters.codecs:
            if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == self._pt:
                self._rtx_pt = c.payloadType
                break
        ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
        mid = parameters.muxId
        mid_el = b""
        if mid and _MID_URI in ids:
            mid_el = extension_element(ids[_MID_URI], mid.encode())
        self._ext_plain = extension_block(mid_el)
        if self.kind == "audio" and _LEVEL_URI in ids:
            self._level_head = mid_el + bytes(((ids[_LEVEL_URI] << 4),))
        self._header_len = 12 + len(self._ext_plain)
        dtls = self.sender.transport
        self._dtls = dtls
        self._protect, self._sendto, self._addr = compat.transport_writer(dtls)
        self.ready = self._protect is not None
        if self.source is not None:
            self.source.request_keyframe()  # the one asked at subscribe time is long gone

    # --- per packet (hot path) ---

    def forward(
        self,
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
        if self.waiting:
            # An H264 keyframe may be flagged on a packet inside its access unit (an IDR NAL
            # after the SPS/PPS packets): start only on a packet that begins its frame, known
            # from a packet of another frame seen just before (VP8's flag is a frame start).
            begins = self.mime != H264_MIME or (self._seen_ts is not None and ts != self._seen_ts)
            self._seen_ts = ts
            if not (keyframe and begins):
                if now - self._asked > KEYFRAME_RETRY and self.source is not None:
                    self._asked = now
                    self.source.request_keyframe()
                return
            self._sync(seq, ts, now)
        out_seq = (seq + self._seq_off) & 0xFFFF
        if (out_seq - self._max_seq) & 0xFFFF < 0x8000:
            self._max_seq = out_seq
        elif (self._max_seq - out_seq) & 0xFFFF > (self._max_seq - self._first_seq) & 0xFFFF:
            return  # older than where this subscription started
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        if level is not None and self._level_head:
            vad, dbov = level
            ext = extension_block(self._level_head + bytes((0x80 * vad | dbov,)))
        else:
            ext = self._ext_plain
        header = RTP_HEADER.pack(
            RTP_VERSION_EXT, (marker << 7) | self._pt, out_seq, out_ts, self._ssrc
        )
        data = header + ext + payload
        if self._dtls._state is not compat.DTLS_CONNECTED:
            return
        self._history[out_seq % HISTORY] = data
        self._sendto(self._protect(data), self._addr)  # type: ignore[misc]
        self._last_seq = out_seq
        self._last_ts = out_ts
        self._last_send = now
        self.packets += 1
        self.octets += len(payload)
        compat.set_sender_counters(self.sender, self.octets, self.packets)

    def _sync(self, seq: int, ts: int, now: float) -> None:
        if self._last_seq is None:
            self._seq_off = (random.randrange(1 << 15) - seq) & 0xFFFF
            self._ts_off = (random.getrandbits(32) - ts) & 0xFFFFFFFF
        else:
            self._seq_off = (self._last_seq + 1 - seq) & 0xFFFF
            elapsed = max(1, int((now - self._last_send) * self.clock_rate))
            self._ts_off = (self._last_ts + elapsed - ts) & 0xFFFFFFFF
        self._first_seq = self._max_seq = (seq + self._seq_off) & 0xFFFF
        self.waiting = False
        self._seen_ts = None

    # --- RTCP from the subscriber ---

    def _retransmit(self, seq: int) -> None:
        try:
            data = self._history[seq % HISTORY]
            if data is None or ((data[2] << 8) | data[3]) != seq or not self.ready:
                return
            if self._dtls._state is not compat.DTLS_CONNECTED:
                return
            if self._rtx_pt is not None:
                data = rtx_wrap(
                    data, self._header_len, self._rtx_pt, self._rtx_seq, self.sender._rtx_ssrc
                )
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            self._sendto(self._protect(data), self._addr)  # type: ignore[misc]
            self.retransmitted += 1
        except Exception:
            logger.debug("retransmission failed", exc_info=True)

    def _fix_sender_report(self, packets: list[Any]) -> None:
        """aiortc builds the SR from its own (unused) send loop's state: put ours in."""
        try:
            for i, packet in enumerate(packets):
                if isinstance(packet, RtcpSrPacket) and packet.ssrc == self._ssrc:
                    now = time.monotonic()
                    ntp = compat.ntp_now()
                    rtp_ts = self._last_ts
                    if self._last_seq is not None and not self.waiting:
                        rtp_ts += int((now - self._last_send) * self.clock_rate)
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
        self.waiting = True
        self._seen_ts = None
        self._asked = time.monotonic()
