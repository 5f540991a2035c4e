"""``TapRecorder``: the :class:`vidconsult.ports.Recorder` on the media engine's encoded taps.

Each participant file is a :class:`ParticipantRecording` whose track taps are attached with
``engine.add_tap``; the engine's track observer tells the core (through the listener) when
tracks come and go, so it can start, extend or finish files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.recording.tap import ParticipantRecording
from media.recording.writer import ContainerWriter, Opener, container_for, supported
from vidconsult.errors import NotFound
from vidconsult.ports import PublishedTrack, RecordedFile, RecorderListener, RecordingTarget

log = logging.getLogger(__name__)


def clock_rate(codec: str) -> int:
    return 90000 if codec.lower().startswith("video/") else 48000


@dataclass(slots=True)
class _Open:
    target: RecordingTarget
    recording: ParticipantRecording
    # track sid -> the tap attached to the engine
    attached: dict[str, Any]


class TapRecorder:
    def __init__(self, engine: Any, *, opener: Opener | None = None,
                 header_timeout: float = 4.0) -> None:
        for method in ("add_tap", "remove_tap", "published_tracks", "add_track_observer"):
            if not hasattr(engine, method):
                raise TypeError(f"the media engine has no {method}(): recording needs taps")
        self._engine = engine
        self._opener = opener
        self._header_timeout = header_timeout
        self._listener: RecorderListener | None = None
        self._open: dict[str, _Open] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        engine.add_track_observer(self)

    def set_listener(self, listener: RecorderListener) -> None:
        self._listener = listener

    def now(self) -> float:
        return time.monotonic()

    def published_tracks(self, room_id: str) -> list[tuple[str, PublishedTrack]]:
        return list(self._engine.published_tracks(room_id))

    def container_for(self, codecs: list[str]) -> tuple[str, str]:
        return container_for(codecs)

    # media.taps.TrackObserver ----------------------------------------------------------------
    def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        if self._listener is not None:
            self._listener.on_track_published(room_id, identity, track)

    def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        if self._listener is not None:
            self._listener.on_track_ended(room_id, identity, track_sid)

    # files ----------------------------------------------------------------------------------
    def start(self, target: RecordingTarget, tracks: list[PublishedTrack], *,
              origin: float) -> list[str]:
        self._loop = asyncio.get_running_loop()
        rid = target.recording_id
        writer = ContainerWriter(
            Path(target.path), target.container, metadata=dict(target.tags),
            header_timeout=self._header_timeout, opener=self._opener,
            on_error=lambda error: self._failed_threadsafe(rid, error),
        )
        recording = ParticipantRecording(rid, writer, origin=origin,
                                         on_all_ended=self._all_ended)
        self._open[rid] = _Open(target, recording, {})
        taken = [t.sid for t in tracks if self.add_track(rid, t)]
        log.info("recording started recording=%s room=%s identity=%s tracks=%s path=%s",
                 rid, target.room_id, target.identity, taken, target.path)
        return taken

    def add_track(self, recording_id: str, track: PublishedTrack) -> bool:
        entry = self._open.get(recording_id)
        if entry is None or not supported(track.codec):
            return False
        if track.sid in entry.attached:
            return True
        if (track.codec.lower() == "video/h264") != (entry.target.container == "matroska") \
                and track.kind == "video":
            return False  # H264 needs a Matroska file, VP8 goes to WebM
        tap = entry.recording.add_track(track.sid, str(track.kind), track.codec,
                                        clock_rate(track.codec))
        if tap is None:
            return False
        try:
            self._engine.add_tap(entry.target.room_id, entry.target.identity, track.sid, tap)
        except NotFound:
            return False
        entry.attached[track.sid] = tap
        return True

    async def finish(self, recording_id: str) -> RecordedFile:
        entry = self._open.pop(recording_id)
        for sid, tap in entry.attached.items():
            with contextlib.suppress(Exception):
                self._engine.remove_tap(entry.target.room_id, entry.target.identity, sid, tap)
        result = await asyncio.wrap_future(entry.recording.writer.finish())
        log.info("recording finished recording=%s duration_ms=%s size=%s error=%s",
                 recording_id, result.duration_ms, result.size, result.error)
        return RecordedFile(
            recording_id=recording_id, duration_ms=result.duration_ms, size=result.size,
            sha256=result.sha256, kinds=result.kinds, codecs=result.codecs,
            offset_ms=int(entry.recording.offset * 1000), error=result.error,
        )

    async def close(self) -> None:
        for rid in list(self._open):
            with contextlib.suppress(Exception):
                await self.finish(rid)
        with contextlib.suppress(Exception):
            self._engine.remove_track_observer(self)

    # callbacks ------------------------------------------------------------------------------
    def _failed_threadsafe(self, recording_id: str, error: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._failed, recording_id, error)

    def _failed(self, recording_id: str, error: str) -> None:
        if self._listener is not None and recording_id in self._open:
            self._listener.on_recording_failed(recording_id, error)

    def _all_ended(self, recording_id: str) -> None:
        if self._listener is not None and recording_id in self._open:
            self._listener.on_tracks_ended(recording_id)
