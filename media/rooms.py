"""``Rooms``: the engine's registry of rooms -> participants -> their publish and subscribe
sessions, and the lookups every engine call starts with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from media.publisher import PublishedEntry, PublishSession
from media.subscriber import SubscribeSession
from vidconsult.errors import NotFound, PermissionDenied
from vidconsult.ports import PublishedTrack, TrackRef


@dataclass(slots=True)
class Participant:
    room_id: str
    identity: str
    can_publish: bool
    can_subscribe: bool
    publisher: PublishSession | None = None
    subscriber: SubscribeSession | None = None
    audio_only: bool = False
    #: video subscriptions kept but not forwarded while ``audio_only`` (by track sid)
    held: dict[str, TrackRef] = field(default_factory=dict)


class Rooms:
    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, Participant]] = {}

    def __len__(self) -> int:
        return len(self._rooms)

    def ids(self) -> list[str]:
        return list(self._rooms)

    def members(self, room_id: str) -> list[Participant]:
        """A snapshot: the room may change while the caller awaits."""
        return list(self._rooms.get(room_id, {}).values())

    def everyone(self) -> Iterator[Participant]:
        for room in self._rooms.values():
            yield from room.values()

    def add(self, part: Participant) -> None:
        self._rooms.setdefault(part.room_id, {})[part.identity] = part

    def pop(self, room_id: str, identity: str) -> Participant | None:
        return self._rooms.get(room_id, {}).pop(identity, None)

    def drop(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)

    def usage(self) -> tuple[int, int, int, int]:
        """Publishers (with >= 1 track), subscriptions (slots in use), and the RTP payload
        bytes and packets the live subscribe connections sent."""
        publishers = subscriptions = sent_bytes = sent_packets = 0
        for part in self.everyone():
            if part.publisher is not None and part.publisher.tracks:
                publishers += 1
            if part.subscriber is not None:
                subscriptions += sum(1 for s in part.subscriber.slots if s.ref is not None)
                b, p = part.subscriber.counters()
                sent_bytes += b
                sent_packets += p
        return publishers, subscriptions, sent_bytes, sent_packets

    # --- lookups ---

    def get(self, room_id: str, identity: str) -> Participant | None:
        return self._rooms.get(room_id, {}).get(identity)

    def participant(self, room_id: str, identity: str) -> Participant:
        part = self.get(room_id, identity)
        if part is None:
            raise NotFound(f"no media session for {identity} in room {room_id}")
        return part

    def subscriber(self, room_id: str, identity: str) -> SubscribeSession:
        part = self.participant(room_id, identity)
        if part.subscriber is None:
            raise PermissionDenied(f"{identity} may not subscribe", code="permission_denied")
        return part.subscriber

    def find_subscriber(self, room_id: str, identity: str) -> SubscribeSession | None:
        """None if the participant is gone; :class:`PermissionDenied` if it may not subscribe."""
        if self.get(room_id, identity) is None:
            return None
        return self.subscriber(room_id, identity)

    def find_track(self, room_id: str, identity: str, track_sid: str) -> PublishedEntry | None:
        part = self.get(room_id, identity)
        if part is None or part.publisher is None:
            return None
        return part.publisher.by_sid(track_sid)

    def published_tracks(self, room_id: str) -> list[tuple[str, PublishedTrack]]:
        return [
            (part.identity, published(entry))
            for part in self.members(room_id)
            if part.publisher is not None
            for entry in part.publisher.tracks.values()
        ]


def published(entry: PublishedEntry) -> PublishedTrack:
    return PublishedTrack(
        sid=entry.sid, kind=entry.kind, codec=entry.codec, mid=entry.mid, source=entry.source
    )
