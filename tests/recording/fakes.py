"""Seams for the recording service and recorder without a server: an engine whose taps the
test feeds, an in-memory recording store, a room lookup and a notifier."""

from __future__ import annotations

import dataclasses
from typing import Any

from vidconsult.domain.recordings import Recording
from vidconsult.domain.rooms import Room
from vidconsult.ports import PublishedTrack


class FakeEngine:
    """What TapRecorder needs of the media engine; ``taps[(identity, sid)]`` are the attached
    taps (a test calls their ``on_frame``), ``tap_adds`` every attach in order."""

    def __init__(self) -> None:
        self.tracks: dict[str, list[tuple[str, PublishedTrack]]] = {}
        self.taps: dict[tuple[str, str], Any] = {}
        self.tap_adds: list[str] = []

    def add_track_observer(self, observer: Any) -> None:
        self.observer = observer

    def remove_track_observer(self, observer: Any) -> None:
        pass

    def published_tracks(self, room_id: str) -> list[tuple[str, PublishedTrack]]:
        return list(self.tracks.get(room_id, []))

    def add_tap(self, room_id: str, identity: str, sid: str, tap: Any) -> None:
        self.tap_adds.append(sid)
        self.taps[(identity, sid)] = tap

    def remove_tap(self, room_id: str, identity: str, sid: str, tap: Any) -> None:
        if self.taps.get((identity, sid)) is tap:
            del self.taps[(identity, sid)]


class MemoryRecordingStore:
    """Hands out copies, as the SQLite store does (a row read earlier goes stale)."""

    def __init__(self) -> None:
        self.recs: dict[str, Recording] = {}
        self.policies: dict[str, Any] = {}
        self.held: set[str] = set()

    async def add_recording(self, r: Recording) -> None:
        self.recs[r.id] = dataclasses.replace(r)

    async def save_recording(self, r: Recording) -> None:
        self.recs[r.id] = dataclasses.replace(r)

    async def get_recording(self, i: str) -> Recording | None:
        r = self.recs.get(i)
        return dataclasses.replace(r) if r else None

    async def list_recordings(
        self,
        *,
        room_id: str | None = None,
        status: str | None = None,
        limit: int = 500,
        node_id: str | None = None,
        **_: Any,
    ) -> list[Recording]:
        out = [
            dataclasses.replace(r)
            for r in self.recs.values()
            if (room_id is None or r.room_id == room_id)
            and (status is None or r.status.value == status)
            and (node_id is None or r.node_id == node_id)
        ]
        return sorted(out, key=lambda r: r.started_at)[:limit]

    async def get_policy(self, room_id: str) -> Any:
        return self.policies.get(room_id)

    async def save_policy(self, p: Any) -> None:
        self.policies[p.room_id] = p

    async def held_cases(self) -> set[str]:
        return set(self.held)


class FakeRooms:
    def __init__(self, room: Room) -> None:
        self.room = room

    async def get_room(self, rid: str) -> Room:
        return self.room

    def participants(self, rid: str, include_hidden: bool = False) -> list[Any]:
        return []


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def broadcast(self, room_id: str, event: str, payload: Any) -> None:
        self.sent.append(event)

    async def send(self, *a: Any) -> None:
        pass
