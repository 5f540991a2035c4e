"""aiortc's receive statistics and NACK generator, fed with a packet's fields instead of an
``RtpPacket`` (issue 15: the passthrough's lean path, :meth:`media.ingress.Ingress.plain`,
builds no packet object).

Subclasses, so they stay what aiortc's RTCP loop reads (the receiver's table of
``StreamStatistics``: receiver reports' loss, jitter, highest sequence number) and what the
ingress's NACKs come from; ``add`` (an ``RtpPacket``) still works and does the same. Per packet
they do what aiortc's ``add`` does, with its helpers (``uint16_gt``, ``uint16_add``) inlined and
the NACK list truncated only when something is missing (a no-op otherwise).
tests/media/test_receive_stats.py compares them with aiortc's on the same sequences.
"""

from __future__ import annotations

import time

from aiortc.rtp import RtpPacket

from media import compat


class ReceiveStatistics(compat.StreamStatistics):  # type: ignore[misc]
    def add(self, packet: RtpPacket) -> None:
        self.add_fields(packet.sequence_number, packet.timestamp)

    def add_fields(self, seq: int, timestamp: int) -> None:
        max_seq = self.max_seq
        self.packets_received += 1
        if max_seq is None:
            if self.base_seq is None:
                self.base_seq = seq
        elif not 0 < (seq - max_seq) & 0xFFFF < 0x8000:
            return  # not newer than the highest: only counted
        arrival = int(time.time() * self._clockrate)
        if max_seq is not None and seq < max_seq:
            self.cycles += 1 << 16
        self.max_seq = seq
        last_timestamp = self._last_timestamp
        if timestamp != last_timestamp and self.packets_received > 1:
            # both set by the packet before (packets_received > 1), as in aiortc's add
            diff = abs((arrival - self._last_arrival) - (timestamp - last_timestamp))  # type: ignore[operator]
            self._jitter_q4 += diff - ((self._jitter_q4 + 8) >> 4)
        self._last_arrival = arrival
        self._last_timestamp = timestamp


class NackTracker(compat.NackGenerator):  # type: ignore[misc]
    def add(self, packet: RtpPacket) -> bool:
        return self.add_seq(packet.sequence_number)

    def add_seq(self, seq: int) -> bool:
        """Mark ``seq`` received; whether packets before it are newly missing."""
        max_seq = self.max_seq
        if max_seq is None:
            self.max_seq = seq
            return False
        missing = self.missing
        ahead = (seq - max_seq) & 0xFFFF
        missed = False
        if 0 < ahead < 0x8000:
            if ahead > 1:
                missing.update([(max_seq + i) & 0xFFFF for i in range(1, ahead)])
                missed = True
            self.max_seq = seq
        else:
            missing.discard(seq)
        if missing:
            self.truncate()
        return missed
