"""``Pacer``: what the SFU sends to one subscriber whose downlink is limited, spread out in time.

Without it every packet goes out the moment it arrives from the publisher. A keyframe (5-10
times a delta frame) or a layer switch then reaches a thin link as one burst, and a thin link's
queue is short: a 300 kbit/s access link with a 200 ms buffer holds ~7.5 KB, so the tail of
the burst is dropped there, the subscriber NACKs it, the retransmissions add to the queue, a
packet lost for good asks a keyframe, which is another burst (tests/browser/test_weak_links.py
measured ~200 packets dropped by the link in 12 s and freezes up to 1.13 s).

A leaky bucket at ``rate`` bit/s (IP + UDP + SRTP bytes counted, what the link carries):

* **video** (one :class:`Lane` per video downstream) waits in a queue and leaves at the rate;
  the queue is bounded by time: a packet that would wait more than ``max_delay`` seconds is
  dropped with the rest of its frame and what the lane still has waiting (as stale, and the
  keyframe to come needs the link), and the lane's ``on_overflow`` is told. The downstream
  then waits for a keyframe (and asks one): the frames after a dropped one reference it and
  would not decode, and video that arrives more than ``max_delay`` late is worse than a short
  freeze. The lane's next frame (that keyframe) is queued whole, and what follows it may wait
  the bound beyond the time it leaves, so a keyframe bigger than the bound still gets through
  (otherwise a link paced under its keyframes would ask for keyframes forever).
* **retransmissions** (NACK answers, :meth:`Lane.resend`) are paced too, ahead of new video
  (the receiver is waiting for them, and they are older); one that would wait more than
  ``max_delay`` is dropped (it would arrive after the receiver gave up on it).
* **audio** (:meth:`audio`) is never queued: sent at once, even with video waiting, and taken
  from the bucket, so the video after it waits for it instead.

A lane's packets come to it unprotected and are finished when they leave: the abs-send-time
extension (the value at ``abs_offset``, if any) is written with the time they leave, then they
are SRTP-protected (the lane's ``protect``), as Chromium's pacer stamps at sending. Stamped when
queued, the subscriber's delay-based estimate would read the wait here as a congested link and
its REMB would drop (measured: 69 kbit/s on the 300 kbit/s link of the weak-link test).

Up to ``BURST`` seconds of the rate go at once (Chromium's pacer sends in 5 ms rounds too); a
timer up to ``LATE_CREDIT`` (100 ms) late is caught up.
One timer at most (``call_at`` at the next send time), none while the queue is empty. Pure
apart from the ``sendto``, ``clock`` and ``call_at`` it is given (tests drive a fake clock).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["BURST", "IP_UDP_OVERHEAD", "LATE_CREDIT", "MAX_DELAY", "SRTP_TAG", "Lane", "Pacer"]

MAX_DELAY = 0.4  # seconds a frame may wait in the queue before it is dropped instead
BURST = 0.005  # seconds of the rate that may be sent at once
#: seconds a timer may fire late and the queue still leave on schedule (what it could not send
#: meanwhile goes at once): on a busy machine the event loop runs timers late (stalls of
#: 100-300 ms at a load average of 15), and each miss would otherwise lower the rate for good
#: while the queue grows. The link's own queue drained meanwhile, so catching up refills it
#: to at most this much of the rate: half a thin link's usual 200 ms buffer
LATE_CREDIT = 0.1
IP_UDP_OVERHEAD = 28  # bytes per datagram on the link beyond what is handed to sendto
SRTP_TAG = 10  # bytes SRTP adds to what a lane queues (unprotected), HMAC-SHA1-80

SendTo = Callable[[bytes, Any], bool]


def _plain(data: bytes) -> bytes:
    return data


class Lane:
    """One video downstream's way into the pacer: ``send`` (its media), ``resend`` (its
    retransmissions), both with ``sendto``'s signature (False = dropped, not sent), taking
    unprotected RTP that ``protect`` protects when it leaves; ``abs_offset``: where the
    3-byte abs-send-time value is in its packets (0 = not there). ``on_overflow(n)``: a packet
    could not be sent in time; ``n`` media packets were dropped (it and what was queued); the
    rest of its frame will be, and the next frame is taken for the keyframe the lane's owner
    asks for, and queued whole."""

    __slots__ = (
        "_dropping",
        "_on_overflow",
        "_pacer",
        "_recovering",
        "_ts",
        "_grace_until",
        "_whole",
        "abs_offset",
        "dropped",
        "overflows",
        "protect",
    )

    def __init__(
        self,
        pacer: Pacer,
        on_overflow: Callable[[int], None] | None,
        protect: Callable[[bytes], bytes] = _plain,
        abs_offset: int = 0,
    ) -> None:
        self._pacer = pacer
        self._on_overflow = on_overflow
        self.protect = protect
        self.abs_offset = abs_offset
        self._ts = b""  # RTP timestamp of the frame being queued
        self._dropping = False  # the rest of the frame is dropped
        self._recovering = False  # the next frame is the keyframe asked after an overflow
        self._whole = False  # this frame is that keyframe: queued whole
        self._grace_until = float("-inf")  # when that keyframe will have left
        self.dropped = 0  # video packets dropped
        self.overflows = 0  # times the queue was over the bound

    @property
    def pacer(self) -> Pacer:
        return self._pacer

    def send(self, data: bytes, addr: Any) -> bool:
        pacer = self._pacer
        if pacer.closed:
            return False
        ts = data[4:8]
        if ts != self._ts:  # a new frame
            self._ts = ts
            self._dropping = False
            self._whole = self._recovering  # the keyframe asked after an overflow goes whole
            self._recovering = False
        if self._dropping:
            self.dropped += 1
            return False
        if self._whole:
            pacer.enqueue(data, addr, self, retransmission=False)
            # what follows may wait the bound beyond the time this keyframe leaves
            self._grace_until = pacer.clock() + pacer.delay()
            return True
        wait = pacer.delay()
        if wait > pacer.max_delay and wait > pacer.max_delay + self._grace_until - pacer.clock():
            # the rest of this frame, and what this video still has queued, are dropped
            self._dropping = self._recovering = True
            self.overflows += 1
            purged = pacer.purge(self)
            self.dropped += purged + 1
            if self._on_overflow is not None:
                self._on_overflow(purged + 1)
            return False
        pacer.enqueue(data, addr, self, retransmission=False)
        return True

    def resend(self, data: bytes, addr: Any) -> bool:
        pacer = self._pacer
        if pacer.closed or pacer.delay() > pacer.max_delay:
            pacer.rtx_dropped += 1
            return False
        pacer.enqueue(data, addr, self, retransmission=True)
        return True

    def finish(self, data: bytes, now: float) -> bytes:
        """The datagram as it leaves at ``now``: abs-send-time written, protected."""
        at = self.abs_offset
        if at and len(data) >= at + 3:
            # 6.18 fixed-point seconds, on the clock the downstream stamps with (monotonic)
            data = data[:at] + (int(now * 262144) & 0xFFFFFF).to_bytes(3, "big") + data[at + 3 :]
        return self.protect(data)


# a queued packet: (datagram, address, when queued, bits on the link, its lane)
_Item = tuple[bytes, Any, float, int, Lane]


class Pacer:
    def __init__(
        self,
        sendto: SendTo,
        rate_bps: float,
        *,
        max_delay: float = MAX_DELAY,
        clock: Callable[[], float] = time.monotonic,
        call_at: Callable[[float, Callable[[], None]], Any] | None = None,
    ) -> None:
        if rate_bps <= 0:
            raise ValueError("a pacing rate is > 0 bit/s")
        self._sendto = sendto
        self._rate = float(rate_bps)
        self.max_delay = max_delay
        self._clock = clock
        self._call_at = call_at
        self._free_at = float("-inf")  # when the bucket has drained what was sent
        self._video: deque[_Item] = deque()
        self._rtx: deque[_Item] = deque()
        self._queued_bits = 0
        self._timer: Any = None
        self.closed = False
        self.sent = 0  # datagrams handed to sendto
        self.audio_sent = 0  # of which audio
        self.rate_max = self._rate  # the highest rate set (for the stats)
        self.refused = 0  # of which sendto refused (the socket's buffer)
        self.rtx_dropped = 0  # retransmissions not sent: they would have been too late
        self.longest_wait = 0.0  # seconds the longest-waiting packet waited

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, bps: float) -> None:
        if bps <= 0:
            raise ValueError("a pacing rate is > 0 bit/s")
        self._rate = float(bps)
        self.rate_max = max(self.rate_max, self._rate)

    @property
    def queued(self) -> int:
        """Packets waiting."""
        return len(self._video) + len(self._rtx)

    @property
    def timer_armed(self) -> bool:
        return self._timer is not None

    def lane(
        self,
        on_overflow: Callable[[int], None] | None = None,
        protect: Callable[[bytes], bytes] = _plain,
        abs_offset: int = 0,
    ) -> Lane:
        return Lane(self, on_overflow, protect, abs_offset)

    def clock(self) -> float:
        return self._clock()

    def delay(self) -> float:
        """Seconds a packet queued now would wait before it is sent."""
        backlog = max(0.0, self._free_at - self._clock() - BURST)
        return backlog + self._queued_bits / self._rate

    def audio(self, data: bytes, addr: Any) -> bool:
        """Sent at once, whatever waits; the video after it waits for it."""
        if self.closed:
            return False
        self.audio_sent += 1
        return self._emit(data, addr, self._clock(), (len(data) + IP_UDP_OVERHEAD) * 8)

    def enqueue(self, data: bytes, addr: Any, lane: Lane, *, retransmission: bool) -> None:
        now = self._clock()
        bits = (len(data) + SRTP_TAG + IP_UDP_OVERHEAD) * 8
        if not self._video and not self._rtx and self._free_at <= now + BURST:
            self._emit(lane.finish(data, now), addr, now, bits)
            return
        (self._rtx if retransmission else self._video).append((data, addr, now, bits, lane))
        self._queued_bits += bits
        self._arm()

    def _emit(self, data: bytes, addr: Any, now: float, bits: int, late: float = 0.0) -> bool:
        self._free_at = max(self._free_at, now - late) + bits / self._rate
        self.sent += 1
        try:
            ok = self._sendto(data, addr)
        except Exception:
            ok = False
        if not ok:
            self.refused += 1
        return ok

    def _arm(self) -> None:
        if self._timer is not None or self.closed or not (self._video or self._rtx):
            return
        if self._call_at is None:
            return  # no scheduler: the owner calls drain() itself
        self._timer = self._call_at(self._free_at - BURST, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.drain()

    def drain(self) -> None:
        """Send what the bucket has room for now; arm the timer for the rest."""
        if self.closed:
            return
        now = self._clock()
        while (self._video or self._rtx) and self._free_at <= now + BURST:
            data, addr, since, bits, lane = (self._rtx or self._video).popleft()
            self._queued_bits -= bits
            self.longest_wait = max(self.longest_wait, now - since)
            self._emit(lane.finish(data, now), addr, now, bits, LATE_CREDIT)
        self._arm()

    def flush(self) -> None:
        """Send everything waiting now, in order (the link is no longer limited)."""
        now = self._clock()
        while self._video or self._rtx:
            data, addr, _, bits, lane = (self._rtx or self._video).popleft()
            self._emit(lane.finish(data, now), addr, now, bits)
        self._queued_bits = 0

    def purge(self, lane: Lane) -> int:
        """Drop what ``lane`` has waiting (it overflowed: what it queued is as stale, and the
        keyframe it will ask for needs the link); returns how many media packets (its
        retransmissions count in ``rtx_dropped``)."""
        dropped = 0
        for queue in (self._video, self._rtx):
            kept = [item for item in queue if item[4] is not lane]
            if len(kept) != len(queue):
                gone = len(queue) - len(kept)
                if queue is self._video:
                    dropped += gone
                else:
                    self.rtx_dropped += gone
                self._queued_bits -= sum(item[3] for item in queue if item[4] is lane)
                queue.clear()
                queue.extend(kept)
        return dropped

    def close(self) -> None:
        """Drop what waits; nothing is sent after this."""
        self.closed = True
        self._video.clear()
        self._rtx.clear()
        self._queued_bits = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def stats(self) -> dict[str, Any]:
        return {
            "rate_kbps": round(self._rate / 1000),
            "rate_kbps_max": round(self.rate_max / 1000),
            "queued": self.queued,
            "delay_ms": round(self.delay() * 1000),
            "sent": self.sent,
            "audio_sent": self.audio_sent,
            "refused": self.refused,
            "rtx_dropped": self.rtx_dropped,
            "longest_wait_ms": round(self.longest_wait * 1000),
        }
