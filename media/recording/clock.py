"""The recorder's common clock: RTP timestamps of every track mapped onto one timeline
(``time.monotonic()`` seconds of this server), so that audio and video of a participant line up
and participants' relative start times are right.

A track's RTP clock is tied to its publisher's wall clock (NTP) by RTCP sender reports; the
publisher's wall clock is tied to ours by the smallest ``arrival - ntp`` seen over its recent
reports (the report that took the least time to come). All tracks of one participant share that
offset, so A/V sync follows the publisher's own sender reports. Before the first report of a
track, frames are placed by their arrival time: the arrival of the least-delayed frame so far
(smallest ``arrival - rtp/rate``) plus RTP time since. Not the first frame's: arrival is stamped
when the event loop gets to the frame, and on a busy machine the first one was seen stamped
>200 ms late, which then delayed every frame of the track (and so its A/V sync) until the first
report.

Both estimates are minima over a sliding window (:data:`WINDOW` seconds of reports), not over
the whole session, so that they follow clocks that drift apart (a sound card's RTP clock runs
some ppm off its publisher's NTP clock, which runs some ppm off ours). A step of the publisher's
NTP clock (a resync) is recognised in a report whose NTP time moved against both its RTP time
and its arrival by the same amount: the link then takes the step out of every later NTP time,
so the mapping does not move. Backward corrections larger than :data:`SNAP` are slewed, so that
the timeline of a track never steps back by much.
"""

from __future__ import annotations

from collections import deque

# a frame placed this far from its arrival means the publisher's RTP clock jumped (a new
# source, a looping file): the track is re-anchored on arrival until its next sender report
MAX_SKEW = 2.0
# seconds of sender reports (by arrival) the estimates are taken over
WINDOW = 20.0
# a report's NTP time moved this far against both its RTP time and its arrival: an NTP step
NTP_STEP = 0.2
# backward corrections of a track's mapping up to this are applied at once; larger ones are
# slewed: the track's time then advances at (1 - SLEW) of its RTP time until caught up
SNAP = 0.05
SLEW = 0.2


class WallClockLink:
    """Per participant: monotonic = (ntp - shift) + offset.

    ``offset`` is the minimum of ``arrival - (ntp - shift)`` over the reports of the last
    :data:`WINDOW` seconds; ``shift`` the sum of the publisher's NTP steps recognised so far."""

    __slots__ = ("offset", "shift", "_window")

    def __init__(self) -> None:
        self.offset: float | None = None
        self.shift = 0.0
        # (arrival, candidate), candidates increasing: the window's minimum is the first
        self._window: deque[tuple[float, float]] = deque()

    def observe(self, ntp_time: float, arrival: float) -> None:
        candidate = arrival - (ntp_time - self.shift)
        window = self._window
        while window and window[-1][1] >= candidate:
            window.pop()
        window.append((arrival, candidate))
        while window[0][0] < arrival - WINDOW:
            window.popleft()
        self.offset = window[0][1]

    def step(self, amount: float) -> None:
        """The publisher's NTP clock stepped by ``amount`` seconds."""
        self.shift += amount


class TrackClock:
    __slots__ = ("_link", "_rate", "_ext", "_anchor", "_srs", "_base", "_base_ext")

    def __init__(self, clock_rate: int, link: WallClockLink) -> None:
        self._link = link
        self._rate = float(clock_rate)
        self._ext: int | None = None  # last extended (unwrapped) RTP timestamp
        # (ext rtp, arrival) of the least-delayed frame since the last (re)anchoring
        self._anchor: tuple[int, float] | None = None
        # reports of the last WINDOW seconds: (arrival, ext rtp, ntp - shift), their keys
        # (ntp - shift - rtp/rate) increasing, so the first is the least-delayed report
        self._srs: deque[tuple[float, int, float]] = deque()
        self._base: float | None = None  # applied mapping: t = ext / rate + base
        self._base_ext = 0  # ext rtp of the frame the base was last applied to

    def _unwrap(self, rtp: int) -> int:
        if self._ext is None:
            return rtp
        delta = (rtp - self._ext) & 0xFFFFFFFF
        if delta >= 0x80000000:
            delta -= 0x100000000
        return self._ext + delta

    def _key(self, ext: int, ntp: float) -> float:
        return ntp - ext / self._rate

    def on_sender_report(self, rtp_timestamp: int, ntp_time: float, arrival: float) -> None:
        ext = self._unwrap(rtp_timestamp)
        link = self._link
        srs = self._srs
        if srs and link.offset is not None:
            _, sr_ext, sr_ntp = srs[0]
            drift = (ntp_time - link.shift) - (sr_ntp + (ext - sr_ext) / self._rate)
            late = (arrival - (ntp_time - link.shift)) - link.offset
            if abs(drift) > NTP_STEP and abs(drift + late) < NTP_STEP / 2:
                # NTP moved against both the RTP clock and our clock by the same amount
                link.step(drift)
            elif abs(drift) > MAX_SKEW:
                self._anchor = None  # the RTP clock jumped: this report starts afresh
                self._base = None
                srs.clear()
        if self._ext is None:
            self._ext = ext
        # Keep the report sent with the least delay among the recent ones. A sender stamps a
        # report with the RTP time of the last packet it sent, which lags behind the wall clock
        # when the sender is busy (seen: audio and video apart by >100 ms under load); the
        # smallest ntp - rtp/rate is the closest to the true mapping, as for the link offset.
        ntp = ntp_time - link.shift
        key = self._key(ext, ntp)
        while srs and self._key(srs[-1][1], srs[-1][2]) >= key:
            srs.pop()
        srs.append((arrival, ext, ntp))
        while srs[0][0] < arrival - WINDOW:
            srs.popleft()
        link.observe(ntp_time, arrival)

    def to_time(self, rtp_timestamp: int, arrival: float) -> float:
        """The frame's time on the common (monotonic) clock, in seconds."""
        ext = self._unwrap(rtp_timestamp)
        self._ext = ext
        if self._srs and self._link.offset is not None:
            _, sr_ext, sr_ntp = self._srs[0]
            target = sr_ntp - sr_ext / self._rate + self._link.offset
            base = self._base
            if base is None or target >= base - SNAP:
                base = target
            else:  # a large step back: slew towards it
                elapsed = max(0, ext - self._base_ext) / self._rate
                base = max(target, base - SLEW * elapsed)
            self._base, self._base_ext = base, ext
            t = ext / self._rate + base
        else:
            anchor = self._anchor
            if anchor is None or arrival - anchor[1] < (ext - anchor[0]) / self._rate:
                anchor = self._anchor = (ext, arrival)  # less delayed than the anchor
            t = anchor[1] + (ext - anchor[0]) / self._rate
        if abs(t - arrival) > MAX_SKEW:
            self._srs.clear()
            self._base = None
            self._anchor = (ext, arrival)
            return arrival
        return t

    @property
    def synced(self) -> bool:
        return bool(self._srs) and self._link.offset is not None
