"""Where the server's CPU goes, stage by stage, inside the real server (issue 15): the loop
thread's CPU time (``time.thread_time_ns``, not wall time: time spent waiting for a core does
not count) taken around the media path's stages by wrapping them in the server process.

Stages (exclusive: a stage's time excludes the stages measured inside it):

- ``rtp_path``: the intake's socket callback for a forwarded RTP packet (media/intake.py), from
  the datagram to the subscriber's ``sendto``, less the three below;
- ``srtp_unprotect`` / ``srtp_protect``: libsrtp through media/srtp.py;
- ``sendto``: the socket send (on loopback this is also the receiver's side of the kernel);
- ``ice_dtls_datagram``: aioice's datagram callback: STUN checks and answers, DTLS and SRTCP
  datagrams queued for aiortc's DTLS task;
- ``rtcp_in``: aiortc's DTLS task handling an SRTCP datagram (unprotect, parse, the senders'
  and receivers' handlers: NACK, PLI, REMB, reports);
- ``other``: the rest of the thread's time: the event loop itself (epoll, uvloop's reading of
  each datagram), timers (aiortc's RTCP reports), tasks.

Each wrapper costs about a microsecond (two ``clock_gettime`` calls): the per-packet figures
are a little high. A debugging tool for benchmarks/loop_probe.py ``--stages``; never in the
product."""

from __future__ import annotations

import functools
import time
from typing import Any

now = time.thread_time_ns


class StageMeter:
    def __init__(self) -> None:
        self.ns: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[int]] = []  # per open stage: [start, time of inner stages]

    # --- wrapping -------------------------------------------------------------------------

    def _enter(self) -> list[int]:
        frame = [now(), 0]
        self._stack.append(frame)
        return frame

    def _leave(self, key: str, frame: list[int]) -> None:
        self._stack.pop()
        spent = now() - frame[0]
        self.ns[key] = self.ns.get(key, 0) + spent - frame[1]
        self.calls[key] = self.calls.get(key, 0) + 1
        if self._stack:
            self._stack[-1][1] += spent

    def timed(self, key: str, fn: Any) -> Any:
        meter = self

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            frame = meter._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                meter._leave(key, frame)

        return wrapper

    def timed_coroutine(self, key: str, fn: Any) -> Any:
        """For a coroutine that runs to its end without suspending (aiortc's RTCP handling):
        only when no other stage is open, so a suspension cannot corrupt the stack."""
        meter = self

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if meter._stack:
                return await fn(*args, **kwargs)
            start = now()
            try:
                return await fn(*args, **kwargs)
            finally:
                meter.ns[key] = meter.ns.get(key, 0) + now() - start
                meter.calls[key] = meter.calls.get(key, 0) + 1

        return wrapper

    def timed_factory(self, key: str, factory: Any) -> Any:
        """``factory`` returns a callable (media.srtp.protector): the callable is timed."""
        meter = self

        @functools.wraps(factory)
        def make(*args: Any, **kwargs: Any) -> Any:
            return meter.timed(key, factory(*args, **kwargs))

        return make

    def install(self) -> None:
        """Wrap the stages; before any connection exists (the factories are called when a
        connection is set up)."""
        from aioice.ice import StunProtocol
        from aiortc.rtcdtlstransport import RTCDtlsTransport

        from media import compat, intake, srtp

        intake.Intake.datagram_received = self.timed(  # type: ignore[method-assign]
            "rtp_path", intake.Intake.datagram_received
        )
        StunProtocol.datagram_received = self.timed(  # type: ignore[method-assign]
            "ice_dtls_datagram", StunProtocol.datagram_received
        )
        RTCDtlsTransport._handle_rtcp_data = self.timed_coroutine(  # type: ignore[method-assign]
            "rtcp_in", RTCDtlsTransport._handle_rtcp_data
        )
        srtp.protector = self.timed_factory("srtp_protect", srtp.protector)
        srtp.unprotector = self.timed_factory("srtp_unprotect", srtp.unprotector)
        compat.datagram_sendto = self.timed_factory("sendto", compat.datagram_sendto)

    def snapshot(self) -> dict[str, Any]:
        return {"thread_ns": now(), "ns": dict(self.ns), "calls": dict(self.calls)}


def breakdown(before: dict[str, Any], after: dict[str, Any], packets_in: int) -> dict[str, Any]:
    """Per stage between two snapshots: µs per packet the publisher sent, calls, share of the
    thread's time; ``other`` is what no stage took."""
    total = after["thread_ns"] - before["thread_ns"]
    out: dict[str, Any] = {"thread_cpu_us_per_packet_in": round(total / 1000 / packets_in, 1)}
    measured = 0
    stages: dict[str, Any] = {}
    for key, ns in sorted(after["ns"].items(), key=lambda kv: -kv[1]):
        spent = ns - before["ns"].get(key, 0)
        calls = after["calls"][key] - before["calls"].get(key, 0)
        measured += spent
        stages[key] = {
            "us_per_packet_in": round(spent / 1000 / packets_in, 1),
            "us_per_call": round(spent / 1000 / calls, 1) if calls else None,
            "calls": calls,
            "share": round(spent / total, 3) if total else None,
        }
    stages["other"] = {
        "us_per_packet_in": round((total - measured) / 1000 / packets_in, 1),
        "share": round((total - measured) / total, 3) if total else None,
    }
    out["stages"] = stages
    return out
