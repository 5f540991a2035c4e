"""The recorder's common clock: RTP timestamps of every track mapped onto one timeline
(``time.monotonic()`` seconds of this server), so that audio and video of a participant line up
and participants' relative start times are right.

A track's RTP clock is tied to its publisher's wall clock (NTP) by RTCP sender reports; the
publisher's wall clock is tied to ours by the smallest ``arrival - ntp`` seen over its reports
(the report that took the least time to come). All tracks of one participant share that offset,
so A/V sync follows the publisher's own sender reports. Before the first report of a track,
frames are placed by their arrival time (the first frame's arrival plus RTP time since).
"""

from __future__ import annotations

from dataclasses import dataclass

# a frame placed this far from its arrival means the publisher's RTP clock jumped (a new
# source, a looping file): the track is re-anchored on arrival until its next sender report
MAX_SKEW = 2.0


@dataclass(slots=True)
class WallClockLink:
    """Per participant: monotonic = ntp + offset."""

    offset: float | None = None

    def observe(self, ntp_time: float, arrival: float) -> None:
        candidate = arrival - ntp_time
        if self.offset is None or candidate < self.offset:
            self.offset = candidate


class TrackClock:
    __slots__ = ("_link", "_rate", "_ext", "_anchor", "_sr")

    def __init__(self, clock_rate: int, link: WallClockLink) -> None:
        self._link = link
        self._rate = float(clock_rate)
        self._ext: int | None = None  # last extended (unwrapped) RTP timestamp
        self._anchor: tuple[int, float] | None = None  # (ext rtp, arrival) of the first frame
        self._sr: tuple[int, float] | None = None  # (ext rtp, ntp) of the least-delayed report

    def _unwrap(self, rtp: int) -> int:
        if self._ext is None:
            return rtp
        delta = (rtp - self._ext) & 0xFFFFFFFF
        if delta >= 0x80000000:
            delta -= 0x100000000
        return self._ext + delta

    def on_sender_report(self, rtp_timestamp: int, ntp_time: float, arrival: float) -> None:
        ext = self._unwrap(rtp_timestamp)
        jumped = False
        if self._sr is not None and self._link.offset is not None:
            predicted = self._sr[1] + (ext - self._sr[0]) / self._rate + self._link.offset
            if abs(predicted - (ntp_time + self._link.offset)) > MAX_SKEW:
                self._anchor = None  # the RTP clock jumped: this report starts afresh
                jumped = True
        if self._ext is None:
            self._ext = ext
        # Keep the report sent with the least delay. A sender stamps a report with the RTP
        # time of the last packet it sent, which lags behind the wall clock when the sender is
        # busy (seen: audio and video apart by >100 ms under load); the smallest
        # ntp - rtp/rate is the closest to the true mapping, as for the link offset.
        if (self._sr is None or jumped
                or ntp_time - ext / self._rate < self._sr[1] - self._sr[0] / self._rate):
            self._sr = (ext, ntp_time)
        self._link.observe(ntp_time, arrival)

    def to_time(self, rtp_timestamp: int, arrival: float) -> float:
        """The frame's time on the common (monotonic) clock, in seconds."""
        ext = self._unwrap(rtp_timestamp)
        self._ext = ext
        if self._sr is not None and self._link.offset is not None:
            sr_ext, sr_ntp = self._sr
            t = sr_ntp + (ext - sr_ext) / self._rate + self._link.offset
        else:
            if self._anchor is None:
                self._anchor = (ext, arrival)
            anchor_ext, anchor_arrival = self._anchor
            t = anchor_arrival + (ext - anchor_ext) / self._rate
        if abs(t - arrival) > MAX_SKEW:
            self._sr = None
            self._anchor = (ext, arrival)
            return arrival
        return t

    @property
    def synced(self) -> bool:
        return self._sr is not None and self._link.offset is not None
