"""Rewriting one or more incoming RTP streams into one outgoing stream, seamlessly.

Pure bookkeeping on numbers and bytes (no aiortc, no clock of its own): a
:class:`~media.downstream.Downstream` feeds it every packet it forwards, and calls
:meth:`Munger.switch` when the next packet comes from another stream (another simulcast layer,
another publisher's track, or the same one after a mute). The receiver then sees one stream:

* **sequence numbers** are the source's plus an offset, so reordering, losses and upstream
  retransmissions map through 1:1; at a switch they continue from the highest one sent;
* **timestamps** likewise; at a switch they continue by the wall-clock time that passed;
* **VP8 picture ids and TL0PICIDX** (RFC 7741) continue across a switch too, as a decoder's
  reference tracking expects; with no switch yet the payload is never copied.
"""

from __future__ import annotations

import random

__all__ = ["Munger", "Vp8Munger"]


class Munger:
    """Sequence numbers and timestamps of one outgoing stream."""

    def __init__(self, clock_rate: int, rng: random.Random | None = None) -> None:
        self.clock_rate = clock_rate
        self._rng = rng or random.Random()
        self.started = False
        self._seq_off = 0
        self._ts_off = 0
        self._first_seq = 0
        self.max_seq = 0  # highest outgoing sequence number sent
        self.last_ts = 0  # outgoing timestamp of the newest packet sent
        self.last_time = 0.0  # when (caller's clock, seconds) the newest packet was sent

    def switch(self, seq: int, ts: int, now: float) -> None:
        """The packet (``seq``, ``ts``) starts the outgoing stream, or continues it from
        another source: the first one after it is ``max_seq + 1``, its timestamp the last one
        plus the time that passed (at least one tick)."""
        if not self.started:
            self._seq_off = (self._rng.randrange(1 << 15) - seq) & 0xFFFF
            self._ts_off = (self._rng.getrandbits(32) - ts) & 0xFFFFFFFF
        else:
            self._seq_off = (self.max_seq + 1 - seq) & 0xFFFF
            elapsed = max(1, int((now - self.last_time) * self.clock_rate))
            self._ts_off = (self.last_ts + elapsed - ts) & 0xFFFFFFFF
        self._first_seq = self.max_seq = (seq + self._seq_off) & 0xFFFF
        self.last_ts = (ts + self._ts_off) & 0xFFFFFFFF
        self.last_time = now
        self.started = True

    def rewrite(self, seq: int, ts: int, now: float) -> tuple[int, int] | None:
        """The outgoing (sequence, timestamp) of a packet of the current source, or None if
        it is older than where the current source started (it must not be sent)."""
        out_seq = (seq + self._seq_off) & 0xFFFF
        if (out_seq - self.max_seq) & 0xFFFF < 0x8000:
            newest = True
        elif (self.max_seq - out_seq) & 0xFFFF > (self.max_seq - self._first_seq) & 0xFFFF:
            return None
        else:
            newest = False
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        if newest:
            self.max_seq = out_seq
            self.last_ts = out_ts
            self.last_time = now
        return out_seq, out_ts

    def timestamp_at(self, now: float) -> int:
        """The outgoing timestamp extrapolated to ``now`` (for sender reports)."""
        return (self.last_ts + int((now - self.last_time) * self.clock_rate)) & 0xFFFFFFFF


class Vp8Munger:
    """VP8 payload descriptor fields (picture id, TL0PICIDX) continued across switches."""

    def __init__(self) -> None:
        self._pid_off = 0
        self._tl0_off = 0
        self._last_pid: int | None = None
        self._last_tl0: int | None = None
        self._switch_pending = False

    def switch(self) -> None:
        """The next packet passed to :meth:`rewrite` starts a new source."""
        self._switch_pending = True

    def rewrite(self, payload: bytes) -> bytes:
        # _vp8_fields, _read_pid and _newer inlined: this runs for every video packet
        n = len(payload)
        if n < 2 or not payload[0] & 0x80:
            return payload
        ext = payload[1]
        pos = 2
        pid_bits = tl0_pos = 0
        if ext & 0x80:
            if n <= 2:
                return payload
            if payload[2] & 0x80:
                pid_bits, pos = 15, 4
            else:
                pid_bits, pos = 7, 3
        if ext & 0x40:
            tl0_pos = pos
            pos += 1
        if n <= pos:
            return payload  # truncated
        if pid_bits == 15:
            pid: int | None = ((payload[2] & 0x7F) << 8) | payload[3]
        elif pid_bits:
            pid = payload[2] & 0x7F
        else:
            pid = None
        tl0 = payload[tl0_pos] if tl0_pos else None
        if self._switch_pending:
            self._switch_pending = False
            if pid is not None and self._last_pid is not None:
                self._pid_off = self._last_pid + 1 - pid
            if tl0 is not None and self._last_tl0 is not None:
                self._tl0_off = self._last_tl0 + 1 - tl0
        out = None
        if pid is not None:
            mod = 1 << pid_bits
            new_pid = (pid + self._pid_off) % mod
            last = self._last_pid
            if last is None or (new_pid - last) % mod < mod >> 1:
                self._last_pid = new_pid
            if new_pid != pid:
                out = bytearray(payload)
                if pid_bits == 15:
                    out[2] = 0x80 | (new_pid >> 8)
                    out[3] = new_pid & 0xFF
                else:
                    out[2] = new_pid
        if tl0 is not None:
            new_tl0 = (tl0 + self._tl0_off) & 0xFF
            last = self._last_tl0
            if last is None or (new_tl0 - last) % 256 < 128:
                self._last_tl0 = new_tl0
            if new_tl0 != tl0:
                out = out if out is not None else bytearray(payload)
                out[tl0_pos] = new_tl0
        return payload if out is None else bytes(out)
