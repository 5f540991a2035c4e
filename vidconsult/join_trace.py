"""Timestamps of the join path on the server, for the join benchmark (benchmarks/join_time.py).

Off unless the app is built with one (``build_app(..., join_trace=JoinTrace())``): nothing in
production records anything. Per participant (room, identity), the wall-clock time in epoch
milliseconds of the FIRST time it reached each stage (a page's ``performance.timeOrigin +
performance.now()`` on the same machine is the same clock, so the benchmark can put both on
one time line). Stages, by who marks them:

* signaling: ``tokenChecked`` (socket connect), ``joinReceived`` / ``joinReplied``,
  ``publishOfferReceived`` / ``publishAnswerSent``, ``subscribeOfferSent`` /
  ``subscribeAnswerReceived``;
* the media engine: ``publish.ice`` / ``publish.dtls`` / ``subscribe.ice`` /
  ``subscribe.dtls`` (ICE connected, DTLS done), ``subscribed`` (to a first track),
  ``subscribeOfferJob`` (the offer's turn in the room's queue), ``subscribeOfferMade``;
* the passthrough: ``firstAudioIn`` / ``firstVideoIn`` (first RTP from this publisher),
  ``keyframeAsked`` (a keyframe asked for this new subscriber), ``firstAudioOut`` /
  ``firstVideoOut`` (first packet forwarded to this subscriber; for video, the start of the
  first keyframe it gets).
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: participants kept; a long run forgets the oldest (the benchmark reads each join at once)
MAX_PARTICIPANTS = 2000

Mark = Callable[[str], None]


class JoinTrace:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._marks: dict[tuple[str, str], dict[str, float]] = {}

    def mark(self, room_id: str, identity: str, stage: str) -> None:
        key = (room_id, identity)
        marks = self._marks.get(key)
        if marks is None:
            if len(self._marks) >= MAX_PARTICIPANTS:
                del self._marks[next(iter(self._marks))]
            marks = self._marks[key] = {}
        if stage not in marks:
            marks[stage] = round(self._clock() * 1000, 1)

    def set_aside(self, room_id: str, identity: str, prefix: str = "prepare.") -> None:
        """The stages reached so far become ``prefix + stage`` (a join of connections prepared
        before the click: their negotiation, ICE and DTLS were then; the join's come now)."""
        marks = self._marks.get((room_id, identity))
        if marks:
            self._marks[(room_id, identity)] = {
                (k if k.startswith(prefix) else prefix + k): v for k, v in marks.items()
            }

    def marker(self, room_id: str, identity: str) -> Mark:
        """``mark`` bound to one participant, for parts that do not know who they serve."""
        return lambda stage: self.mark(room_id, identity, stage)

    def room(self, room_id: str) -> dict[str, dict[str, float]]:
        """Each participant's stages in ``room_id``: {identity: {stage: epoch ms}}."""
        return {
            identity: dict(marks)
            for (room, identity), marks in self._marks.items()
            if room == room_id
        }
