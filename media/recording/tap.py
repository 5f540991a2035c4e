"""A participant's recording: the taps of its tracks, placing every encoded frame on the common
clock (:mod:`media.recording.clock`) and handing it to the file's writer thread."""

from __future__ import annotations

import logging
from collections.abc import Callable

from media.recording.clock import TrackClock, WallClockLink
from media.recording.writer import ContainerWriter
from media.taps import EncodedFrame, SenderReport

log = logging.getLogger(__name__)


class TrackTap:
    """The :class:`media.taps.EncodedTap` of one track of a participant's recording."""

    __slots__ = ("_owner", "sid", "clock", "ended")

    def __init__(self, owner: ParticipantRecording, sid: str, clock: TrackClock) -> None:
        self._owner = owner
        self.sid = sid
        self.clock = clock
        self.ended = False

    def on_frame(self, frame: EncodedFrame) -> None:
        t = self.clock.to_time(frame.rtp_timestamp, frame.arrival)
        self._owner.put(self.sid, frame.data, t, frame.keyframe)

    def on_sender_report(self, report: SenderReport) -> None:
        self.clock.on_sender_report(report.rtp_timestamp, report.ntp_time, report.arrival)

    def on_end(self, track_sid: str) -> None:
        self.ended = True
        self._owner.track_ended(self.sid)


class ParticipantRecording:
    """``origin``: the room recording's start on the common clock (``time.monotonic()``); the
    file's timestamps count from the participant's first frame, and :attr:`offset` says where
    that is after ``origin``."""

    def __init__(
        self,
        recording_id: str,
        writer: ContainerWriter,
        *,
        origin: float,
        on_all_ended: Callable[[str], None] | None = None,
    ) -> None:
        self.recording_id = recording_id
        self.writer = writer
        self.origin = origin
        self.base: float | None = None  # common-clock time of the file's 0
        self.taps: dict[str, TrackTap] = {}
        self._link = WallClockLink()
        self._on_all_ended = on_all_ended

    def add_track(self, sid: str, kind: str, codec: str, clock_rate: int) -> TrackTap | None:
        """The track's tap, or None when the file's header is already written."""
        if sid in self.taps:
            return self.taps[sid]
        if not self.writer.add_track(sid, kind, codec):
            return None
        tap = TrackTap(self, sid, TrackClock(clock_rate, self._link))
        self.taps[sid] = tap
        return tap

    def remove_track(self, sid: str) -> None:
        """Take a track out of the file again (its tap could not be attached, or the file
        left it out): it no longer holds the file open."""
        if self.taps.pop(sid, None) is None:
            return
        self.writer.remove_track(sid)
        if self.taps and all(t.ended for t in self.taps.values()) and self._on_all_ended:
            self._on_all_ended(self.recording_id)

    def put(self, sid: str, data: bytes, t: float, keyframe: bool) -> None:
        base = self.base
        if base is None:
            base = self.base = t
        pts = int((t - base) * 1000.0 + 0.5)
        self.writer.put(sid, data, pts if pts > 0 else 0, keyframe)

    @property
    def offset(self) -> float:
        """Seconds from the room recording's start to this file's 0."""
        return 0.0 if self.base is None else max(0.0, self.base - self.origin)

    def track_ended(self, sid: str) -> None:
        if self.taps and all(t.ended for t in self.taps.values()) and self._on_all_ended:
            self._on_all_ended(self.recording_id)
