"""``Intake``: a publish connection's RTP taken straight from its UDP socket (passthrough).

aiortc hands every datagram from aioice's socket callback to the DTLS transport's receive task
through a queue: per packet a STUN parse attempt, a queue hand-off, a task wake-up (one more
turn of the event loop), then SRTP, parsing, routing and two coroutines. For a track that is
only forwarded, the intake does the same work in the socket callback itself, synchronously:
routing by SSRC and payload type as aiortc's router does, SRTP unprotect (the transport's own
session, :mod:`media.srtp`), then, on the common path (one layer, no RTX, no tap),
:meth:`media.ingress.Ingress.plain`: the header's fields read once (:func:`rtp_fields`), no
``RtpPacket`` built. Any other packet is parsed (:func:`parse_rtp`, or ``RtpPacket.parse``
with the transport's header-extension map for simulcast) for
:meth:`media.ingress.Ingress.rtp`. Measured in issue 15 (a Chromium publisher, one viewer;
``benchmarks/forward_path.py``).

SRTCP (the publisher's sender reports; a subscriber's receiver reports, REMB, NACK and PLI) is
taken in the socket callback too, on publish and subscribe connections alike: unprotected with
the transport's session, parsed and routed as aiortc's DTLS task does, each recipient's
``_handle_rtcp_packet`` run to its end at once (none of them waits on anything; one that did
would go on in a task). That saves aiortc's STUN parse attempt, its queue hand-off and a wake-up
of its DTLS task per RTCP packet (~5 per second per publisher and viewer pair; issue 15).

Everything else keeps aiortc's path: STUN, DTLS, packets of an SSRC the router has not
learnt yet (aiortc learns it from them), of a receiver that decodes (reencode mode), and of a
receiver whose ``_handle_rtp_packet`` was wrapped by someone else since (tests do).

Installed by the ingress at the first packet it gets, on the nominated pair's protocol and
every other local socket of the connection (the peer may send on a pair other than the one
this side recorded as nominated): an instance attribute, which aioice's TURN client calls too.
The callback contains its own errors: an exception there would only be logged by asyncio,
but would lose the packet.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
import weakref
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import HeaderExtensionsMap, RtcpPacket, RtpPacket
from pylibsrtp import Error as SrtpError

from media import compat
from media import srtp as lean_srtp

if TYPE_CHECKING:
    from media.ingress import Ingress

logger = logging.getLogger(__name__)

_INTAKES: weakref.WeakKeyDictionary[RTCDtlsTransport, Intake] = weakref.WeakKeyDictionary()


class Intake:
    def __init__(self, dtls: RTCDtlsTransport, protocols: list[Any]) -> None:
        self._dtls = dtls
        self._router = compat.rtp_router(dtls)
        self._ingresses: dict[Any, Ingress] = {}  # receiver -> its ingress
        self._failed = False
        self._srtp: Any = None  # the receive session _unprotect is for
        self._unprotect: Any = None
        self._rtcp_srtp: Any = None  # the receive session _unprotect_rtcp is for
        self._unprotect_rtcp: Any = None
        self._rtcp_failed = False
        self.packets = 0
        self.rtcp_packets = 0
        for protocol in protocols:
            # a partial (C), not a lambda: one Python frame less per datagram
            protocol.datagram_received = functools.partial(
                self.datagram_received, protocol.datagram_received
            )

    def add(self, receiver: RTCRtpReceiver, ingress: Ingress) -> None:
        self._ingresses[receiver] = ingress

    def datagram_received(self, orig: Any, data: bytes, addr: Any) -> None:
        # RTP (not RTCP: see aiortc.rtp.is_rtcp) of a forwarded track
        if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
            router = self._router
            receiver: Any = router.ssrc_table.get(int.from_bytes(data[8:12], "big"))
            ingress = self._ingresses.get(receiver)
            if (
                ingress is not None
                and not ingress.decode
                and receiver._handle_rtp_packet is ingress.entry
                and receiver in router.payload_type_table.get(data[1] & 0x7F, ())
            ):
                dtls = self._dtls
                srtp = dtls._rx_srtp
                if srtp is not None and dtls._state is compat.DTLS_CONNECTED:
                    # the packet is taken here (one call less per packet than a method)
                    if srtp is not self._srtp:
                        self._srtp, self._unprotect = srtp, lean_srtp.unprotector(srtp)
                    try:
                        plain = self._unprotect(data)
                        if not ingress.plain(plain):
                            if ingress.simulcast is None:
                                packet = parse_rtp(
                                    plain, ingress.level_id, dtls._rtp_header_extensions_map
                                )
                            else:  # the layers are told apart by their rid extensions
                                packet = RtpPacket.parse(plain, dtls._rtp_header_extensions_map)
                            ingress.rtp(packet)
                    except (SrtpError, ValueError):
                        return  # what aiortc does too: a packet failing authentication or parsing
                    except Exception:
                        if not self._failed:
                            self._failed = True
                            logger.exception("intake failed")
                        return
                    self.packets += 1
                    return
        elif len(data) >= 8 and 127 < data[0] < 192 and self._take_rtcp(data):
            return
        orig(data, addr)

    def _take_rtcp(self, data: bytes) -> bool:
        """SRTCP taken here (see the module's doc); False: left to aiortc."""
        if not 191 < data[1] < 209:  # aiortc.rtp.is_rtcp
            return False
        dtls = self._dtls
        srtp = dtls._rx_srtp
        if srtp is None or dtls._state is not compat.DTLS_CONNECTED:
            return False
        if srtp is not self._rtcp_srtp:
            self._rtcp_srtp, self._unprotect_rtcp = srtp, lean_srtp.rtcp_unprotector(srtp)
        try:
            packets = RtcpPacket.parse(self._unprotect_rtcp(data))
        except (SrtpError, ValueError):
            return True  # what aiortc does too: dropped
        route = self._router.route_rtcp
        for packet in packets:
            for recipient in route(packet):
                try:
                    run_now(recipient._handle_rtcp_packet(packet))
                except Exception:
                    if not self._rtcp_failed:
                        self._rtcp_failed = True
                        logger.exception("intake RTCP failed")
        self.rtcp_packets += 1
        return True


def run_now(coro: Any) -> None:
    """Run ``coro`` here to its end when it never waits (aiortc's RTCP handlers: their awaits
    are of coroutines that return at once); one that waits goes on in a task from there, as
    if a task had run it from the start."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise
    task = asyncio.get_running_loop().create_task(_resume(coro, waiting))
    _RESUMED.add(task)
    task.add_done_callback(_RESUMED.discard)


_RESUMED: set[asyncio.Task[None]] = set()  # tasks of run_now, kept until they end


async def _resume(coro: Any, waiting: Any) -> None:
    while True:
        if waiting is None:  # a bare yield (asyncio.sleep(0)): one turn of the loop
            await asyncio.sleep(0)
        else:  # the future its await yielded: once done, its await returns or raises
            waiting._asyncio_future_blocking = False
            await asyncio.wait((waiting,))
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


def attach_transport(dtls: RTCDtlsTransport) -> Intake | None:
    """The intake of a transport (made on first use): a subscribe connection's takes its RTCP,
    a publish connection's also its RTP (:func:`attach`); None while the transport has no
    nominated pair."""
    found = _INTAKES.get(dtls)
    if found is None:
        protocols = compat.connection_protocols(dtls)
        if not protocols:
            return None
        found = _INTAKES[dtls] = Intake(dtls, protocols)
    return found


def attach(receiver: RTCRtpReceiver, ingress: Ingress) -> Intake | None:
    """The intake of the receiver's transport (made on first use), with ``ingress`` added;
    None while the transport has no nominated pair."""
    found = attach_transport(receiver.transport)
    if found is not None:
        found.add(receiver, ingress)
    return found


_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, seq, timestamp, ssrc


def parse_rtp(data: bytes, level_id: int, extensions: HeaderExtensionsMap) -> RtpPacket:
    """``RtpPacket.parse`` for a forwarded track without simulcast: of the header extensions
    only ssrc-audio-level (id ``level_id``, 0 = not negotiated) is read, the one the fan-out
    passes on. The others fed what the ingress skips (abs-send-time aiortc's bandwidth
    estimator) or are not needed (mid: packets are routed by SSRC). Raises ValueError like
    ``RtpPacket.parse``; an extension block not in the one-byte form is parsed by it. The
    header is read by :func:`rtp_fields`."""
    fields = rtp_fields(data, level_id)
    if fields is None:  # an extension block not in the one-byte form, the level wanted
        return RtpPacket.parse(data, extensions)
    payload_type, marker, seq, timestamp, ssrc, payload, level = fields
    packet = RtpPacket(payload_type, marker, seq, timestamp, ssrc)
    if level is not None:
        packet.extensions.audio_level = level
    if data[0] & 0x20:  # rtp_fields checked the padding length
        packet.padding_size = data[-1]
    packet.payload = payload
    return packet


def rtp_fields(data: bytes, level_id: int) -> Fields | None:
    """The fields the passthrough forwards, read from an RTP packet without building an
    ``RtpPacket`` (issue 15): (payload type, marker, sequence number, timestamp, SSRC, payload,
    audio level as aiortc gives it (voice activity, level) or None). Of the header extensions
    only ssrc-audio-level (id ``level_id``, 0 = not negotiated) is read, as by
    :func:`parse_rtp`; None when that needs an extension block not in the one-byte form (the
    caller parses with aiortc). Raises ValueError where ``RtpPacket.parse`` does."""
    end = len(data)
    if end < 12:
        raise ValueError("RTP packet too short")
    first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    pos = 12 + 4 * (first & 0x0F)
    if end < pos:
        raise ValueError("RTP packet has truncated CSRC")
    level = None
    if first & 0x10:
        if end < pos + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        length = ((data[pos + 2] << 8) | data[pos + 3]) * 4
        start = pos + 4
        pos = start + length
        if end < pos:
            raise ValueError("RTP packet has truncated extension value")
        if level_id:
            if data[start - 4] != 0xBE or data[start - 3] != 0xDE:  # not one-byte (RFC 8285)
                return None
            value = _one_byte_element(data, start, pos, level_id)
            if value is not None:
                level = (value & 0x80 == 0x80, value & 0x7F)
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > end - pos:
            raise ValueError("RTP packet padding length is invalid")
        end -= padding
    return second & 0x7F, second >> 7, seq, timestamp, ssrc, data[pos:end], level


Fields = tuple[int, int, int, int, int, bytes, "tuple[bool, int] | None"]


def _one_byte_element(data: bytes, pos: int, end: int, wanted: int) -> int | None:
    """The first byte of element ``wanted`` in a one-byte-header extension block (RFC 8285)."""
    while pos < end:
        head = data[pos]
        if head == 0:  # padding between elements
            pos += 1
            continue
        element = head >> 4
        if element == 15:  # reserved: stop reading
            return None
        if element == wanted:
            return data[pos + 1] if pos + 1 < end else None
        pos += 2 + (head & 0x0F)
    return None
