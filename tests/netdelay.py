"""A fixed delay on a link without ``netem``: packets go to user space through iptables'
``NFQUEUE`` target and this process gives each its verdict (accept) ``delay`` after it came.

The kernel here has no ``netem`` (nor ``fq`` and its departure times), but it has
``nfnetlink_queue``. This speaks its netlink protocol directly (a few fixed structs: no C
library, nothing to build) and asks for the packets' metadata only, not their bytes. Packets
keep their order (one delay, verdicts in arrival order). Run inside a participant's network
namespace, where :mod:`tests.netlab` sends its INPUT and OUTPUT there::

    ip netns exec NS python -m tests.netdelay --queue 0 --delay-ms 75

It prints ``ready`` once bound, and runs until killed (SIGTERM). The rules use
``--queue-bypass``: while nothing is bound, packets pass undelayed instead of being dropped.
"""

from __future__ import annotations

import argparse
import collections
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NLMSG_HDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid
NFGEN = struct.Struct("=BBH")  # family, version, res_id (big endian, packed by hand)
NLA = struct.Struct("=HH")  # length, type
QUEUE_MAXLEN = 8192


def _attr(kind: int, payload: bytes) -> bytes:
    length = NLA.size + len(payload)
    return NLA.pack(length, kind) + payload + b"\0" * (-length % 4)


def _message(kind: int, queue: int, attrs: bytes, seq: int = 0) -> bytes:
    body = NFGEN.pack(socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    msg_type = (NFNL_SUBSYS_QUEUE << 8) | kind
    return NLMSG_HDR.pack(NLMSG_HDR.size + len(body), msg_type, NLM_F_REQUEST, seq, 0) + body


def bind(queue: int) -> socket.socket:
    """A netlink socket bound to NFQUEUE ``queue`` in this network namespace, metadata only."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    cmd = struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET)
    sock.send(_message(NFQNL_MSG_CONFIG, queue, _attr(NFQA_CFG_CMD, cmd), seq=1))
    params = struct.pack("!IB", 0, NFQNL_COPY_META) + b"\0" * 3
    maxlen = struct.pack("!I", QUEUE_MAXLEN)
    attrs = _attr(NFQA_CFG_PARAMS, params[:5]) + _attr(NFQA_CFG_QUEUE_MAXLEN, maxlen)
    sock.send(_message(NFQNL_MSG_CONFIG, queue, attrs, seq=2))
    return sock


def packet_ids(data: bytes) -> list[int]:
    """The packet ids of the NFQNL_MSG_PACKET messages in one netlink read."""
    ids: list[int] = []
    offset = 0
    while offset + NLMSG_HDR.size <= len(data):
        length, msg_type, _, _, _ = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size:
            break
        if msg_type == NLMSG_ERROR:
            (errno,) = struct.unpack_from("=i", data, offset + NLMSG_HDR.size)
            if errno:
                raise OSError(-errno, "nfqueue refused a request")
        elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            pos = offset + NLMSG_HDR.size + NFGEN.size
            end = offset + length
            while pos + NLA.size <= end:
                alen, akind = NLA.unpack_from(data, pos)
                if alen < NLA.size:
                    break
                if akind & 0x3FFF == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, pos + NLA.size)[0])
                pos += alen + (-alen % 4)
        offset += length + (-length % 4)
    return ids


def verdict(queue: int, packet_id: int) -> bytes:
    return _message(
        NFQNL_MSG_VERDICT, queue, _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))
    )


def run(queue: int, delay: float) -> None:
    sock = bind(queue)
    sock.setblocking(False)
    held: collections.deque[tuple[float, int]] = collections.deque()
    print("ready", flush=True)
    while True:
        wait = max(0.0, held[0][0] - time.monotonic()) if held else 1.0
        readable, _, _ = select.select([sock], [], [], wait)
        if readable:
            while True:
                try:
                    data = sock.recv(1 << 16)
                except BlockingIOError:
                    break
                due = time.monotonic() + delay
                held.extend((due, packet_id) for packet_id in packet_ids(data))
        now = time.monotonic()
        while held and held[0][0] <= now:
            sock.send(verdict(queue, held.popleft()[1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(args.queue, args.delay_ms / 1000)


if __name__ == "__main__":
    main()
