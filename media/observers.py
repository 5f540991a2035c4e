"""``TrackObservers``: the engine-wide, synchronous notices of published and ended tracks
(docs/media.md, "Taps"), called at the moment a track is attached / detached so an observer
may add a tap right away. An observer's exception is logged and swallowed."""

from __future__ import annotations

import logging

from media.taps import TrackObserver
from vidconsult.ports import PublishedTrack

logger = logging.getLogger(__name__)


class TrackObservers:
    def __init__(self) -> None:
        self._observers: list[TrackObserver] = []

    def add(self, observer: TrackObserver) -> None:
        if observer not in self._observers:
            self._observers.append(observer)

    def remove(self, observer: TrackObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        for observer in list(self._observers):
            try:
                observer.on_track_published(room_id, identity, track)
            except Exception:
                logger.exception(
                    "track observer failed room=%s identity=%s track=%s",
                    room_id,
                    identity,
                    track.sid,
                )

    def ended(self, room_id: str, identity: str, track_sid: str) -> None:
        for observer in list(self._observers):
            try:
                observer.on_track_ended(room_id, identity, track_sid)
            except Exception:
                logger.exception(
                    "track observer failed room=%s identity=%s track=%s",
                    room_id,
                    identity,
                    track_sid,
                )
