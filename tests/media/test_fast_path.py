"""The passthrough's per-packet primitives (issue 15): libsrtp called on the session's own
buffer (media/srtp.py) and datagrams written straight on the ICE socket
(compat.datagram_sendto), against pylibsrtp's public methods and real UDP sockets."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from typing import Any

import pytest
import uvloop
from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

from media import compat
from media.srtp import protector, unprotector

KEY = bytes(range(30))


def rtp(seq: int, size: int = 200) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0x1234) + bytes([seq & 0xFF]) * size


def sessions() -> tuple[Session, Session]:
    return (
        Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND)),
        Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND)),
    )


def test_lean_srtp_gives_what_pylibsrtp_gives() -> None:
    packets = [rtp(i, 100 + 7 * i) for i in range(50)]
    tx_ref, rx_ref = sessions()
    tx, rx = sessions()
    protect, unprotect = protector(tx), unprotector(rx)
    assert protect is not tx.protect  # pylibsrtp 1.0's internals were found
    assert unprotect is not rx.unprotect
    protected = [protect(p) for p in packets]
    assert protected == [tx_ref.protect(p) for p in packets]
    assert [unprotect(p) for p in protected] == packets
    assert [rx_ref.unprotect(p) for p in protected] == packets


def test_lean_srtp_raises_what_pylibsrtp_raises() -> None:
    tx, rx = sessions()
    protect, unprotect = protector(tx), unprotector(rx)
    good = protect(rtp(1))
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(SrtpError, match="authentication failure"):
        unprotect(tampered)
    assert unprotect(good) == rtp(1)
    with pytest.raises(SrtpError, match="replay"):
        unprotect(good)  # the session's replay window: the same state as its own methods
    with pytest.raises(ValueError, match="too long"):
        protect(rtp(2, 1490))
    # the session goes on after errors, and its own methods share the state
    assert unprotect(protect(rtp(3))) == rtp(3)
    assert rx.unprotect(protect(rtp(4))) == rtp(4)


class Refusing:
    """A real UDP socket whose sendto fails with the queued errors first (EAGAIN, ENOBUFS:
    what a full socket buffer gives, which loopback cannot be made to give on demand)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.refuse: list[OSError] = []

    def sendto(self, data: bytes, addr: Any) -> int:
        if self.refuse:
            raise self.refuse.pop(0)
        return self._sock.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.put_nowait(data)


async def endpoints() -> tuple[Any, Refusing, Any, Inbox]:
    loop = asyncio.get_running_loop()
    inbox = Inbox()
    receiver, _ = await loop.create_datagram_endpoint(lambda: inbox, local_addr=("127.0.0.1", 0))
    sender, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    refusing = Refusing(sender._sock)
    sender._sock = refusing  # what the transport and datagram_sendto write with
    return sender, refusing, receiver, inbox


async def received(inbox: Inbox, n: int) -> list[bytes]:
    return [await asyncio.wait_for(inbox.got.get(), 5) for _ in range(n)]


@pytest.mark.asyncio_loop  # asyncio's selector transport (--event-loop asyncio)
async def test_a_refused_datagram_is_reported_and_the_next_ones_go() -> None:
    sender, refusing, receiver, inbox = await endpoints()
    try:
        sendto = compat.datagram_sendto(sender)
        addr = receiver.get_extra_info("sockname")
        refusing.refuse = [BlockingIOError(errno.EAGAIN, "full"), OSError(errno.ENOBUFS, "nobufs")]
        results = [sendto(b"p%d" % i, addr) for i in range(6)]
        assert results == [False, False, True, True, True, True]
        assert await received(inbox, 4) == [b"p2", b"p3", b"p4", b"p5"]
        assert not sender._buffer  # nothing left queued behind a writer
    finally:
        sender.close()
        receiver.close()


@pytest.mark.asyncio_loop
async def test_nothing_overtakes_what_asyncio_queued() -> None:
    """aioice's STUN or aiortc's RTCP went through transport.sendto and met a full buffer:
    asyncio queued it. Media sent meanwhile waits behind it, in order."""
    sender, refusing, receiver, inbox = await endpoints()
    try:
        sendto = compat.datagram_sendto(sender)
        addr = receiver.get_extra_info("sockname")
        refusing.refuse = [BlockingIOError(errno.EAGAIN, "full")]
        sender.sendto(b"rtcp", addr)  # refused: asyncio queues it and waits for writability
        assert len(sender._buffer) == 1
        assert sendto(b"media-1", addr) and sendto(b"media-2", addr)
        assert await received(inbox, 3) == [b"rtcp", b"media-1", b"media-2"]
    finally:
        sender.close()
        receiver.close()


async def test_uvloop_transports_send_with_their_own_sendto() -> None:
    """The product's loop (uvloop): its UDP transport has no Python socket to write on, and
    its own sendto tries the socket at once (uv_udp_try_send) and queues only on EAGAIN."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, uvloop.Loop)
    inbox = Inbox()
    receiver, _ = await loop.create_datagram_endpoint(lambda: inbox, local_addr=("127.0.0.1", 0))
    sender, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        sendto = compat.datagram_sendto(sender)
        addr = receiver.get_extra_info("sockname")
        assert all(sendto(b"m%d" % i, addr) for i in range(3))
        assert await received(inbox, 3) == [b"m0", b"m1", b"m2"]
    finally:
        sender.close()
        receiver.close()


def test_other_transports_use_their_own_sendto() -> None:
    sent: list[tuple[bytes, Any]] = []

    class Relay:  # e.g. aioice's TURN transport: no socket of its own
        def sendto(self, data: bytes, addr: Any) -> None:
            sent.append((data, addr))

    sendto = compat.datagram_sendto(Relay())
    assert sendto(b"x", ("192.0.2.1", 9))
    assert sent == [(b"x", ("192.0.2.1", 9))]


def test_random_payloads_round_trip() -> None:
    tx, rx = sessions()
    protect, unprotect = protector(tx), unprotector(rx)
    for i in range(200):
        packet = struct.pack("!BBHII", 0x80, 111, i, i, 7) + os.urandom(i * 6)
        assert unprotect(protect(packet)) == packet


async def test_the_lean_path_hands_on_what_aiortcs_packets_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The intake's path without an RtpPacket (Ingress.plain) against the one with (Ingress.rtp,
    as before issue 15's cut), on the real objects of benchmarks/forward_path.py and the same
    SRTP input (Opus with audio levels, VP8 with losses and reordering): the same packets
    reach the passthrough's sink, the same datagrams go out, the receive statistics the
    receiver reports are the same, the same NACKs are sent."""
    from benchmarks.forward_path import PROFILES, Bench
    from media.ingress import Ingress

    def run() -> tuple[list[Any], int, list[Any], list[Any], int]:
        bench = Bench(*PROFILES["AES128_CM_SHA1_80"])
        sunk: list[Any] = []
        nacks: list[Any] = []
        for ingress in bench.ingresses:
            sink = ingress.sink
            assert sink is not None

            def record(*args: Any, sink: Any = sink) -> None:
                sunk.append(args[:6] + args[7:])  # not the arrival time
                sink(*args)

            def nack(ssrc: int, missing: list[int]) -> Any:
                nacks.append((ssrc, missing))
                return asyncio.sleep(0)

            ingress.sink = record
            ingress.receiver._send_rtcp_nack = nack  # type: ignore[method-assign]
        packets = bench.packets(8)
        kept = [p for i, p in enumerate(packets) if i % 37 != 5]  # losses
        for i in range(10, len(kept) - 2, 23):  # and reordering
            kept[i], kept[i + 2] = kept[i + 2], kept[i]
        for data in kept:
            bench.feed(data, ("127.0.0.1", 5000))
        stats = [
            (ssrc, s.packets_received, s.packets_lost, s.max_seq, s.cycles, s.base_seq)
            for ingress in bench.ingresses
            for ssrc, s in ingress._streams.items()
        ]
        assert bench.intake is not None
        return sunk, len(bench.sent), stats, nacks, bench.intake.packets

    lean = run()
    monkeypatch.setattr(Ingress, "plain", lambda self, data: False)
    before = run()
    assert lean[0] == before[0]
    assert any(args[5] is not None for args in lean[0])  # audio levels were read
    assert lean[1:] == before[1:]
    assert lean[3]  # the losses were NACKed
    await asyncio.sleep(0)  # the NACK tasks run
