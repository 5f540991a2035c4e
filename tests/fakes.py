"""Test doubles for seams only (never for the media path under test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vidconsult.ports import MediaListener, MediaStats, SessionDescription


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


class NullMediaEngine:
    """Accepts everything, forwards nothing: for REST/signaling tests that need no media."""

    def __init__(self) -> None:
        self.listener: MediaListener | None = None
        self.participants: set[tuple[str, str]] = set()
        self.subscriptions: list[tuple[str, str, str, str]] = []
        self.caps: dict[tuple[str, str | None], int] = {}
        self.audio_only: dict[tuple[str, str], bool] = {}
        self.prepared: dict[tuple[str, str], str] = {}  # (room, key) -> identity

    def set_listener(self, listener: MediaListener) -> None:
        self.listener = listener

    async def add_participant(
        self, room_id: str, identity: str, *, can_publish: bool, can_subscribe: bool
    ) -> None:
        self.participants.add((room_id, identity))

    async def prepare(
        self, room_id: str, key: str, identity: str, *, can_publish: bool, can_subscribe: bool
    ) -> SessionDescription | None:
        self.prepared[(room_id, key)] = identity
        return SessionDescription("v=0\r\n", "offer") if can_subscribe else None

    async def prepared_publish(
        self, room_id: str, key: str, offer: SessionDescription
    ) -> SessionDescription:
        return SessionDescription("v=0\r\n", "answer")

    async def prepared_answer(self, room_id: str, key: str, answer: SessionDescription) -> None:
        pass

    async def adopt(self, room_id: str, key: str, identity: str) -> bool:
        if self.prepared.pop((room_id, key), None) != identity:
            return False
        self.participants.add((room_id, identity))
        return True

    async def drop_prepared(self, room_id: str, key: str) -> None:
        self.prepared.pop((room_id, key), None)

    async def publish(
        self, room_id: str, identity: str, offer: SessionDescription
    ) -> SessionDescription:
        if not offer.sdp.startswith("v=0"):
            from vidconsult.errors import InvalidInput

            raise InvalidInput("not an SDP", code="invalid_sdp")
        return SessionDescription("v=0\r\n", "answer")

    async def subscribe(
        self, room_id: str, subscriber: str, publisher: str, track_sid: str
    ) -> None:
        self.subscriptions.append((room_id, subscriber, publisher, track_sid))

    async def unsubscribe(
        self, room_id: str, subscriber: str, publisher: str, track_sid: str
    ) -> None:
        pass

    async def subscriber_answer(
        self, room_id: str, identity: str, answer: SessionDescription
    ) -> None:
        pass

    async def set_track_muted(
        self, room_id: str, identity: str, track_sid: str, muted: bool
    ) -> None:
        pass

    async def set_bitrate_cap(self, room_id: str, kbps: int, identity: str | None = None) -> None:
        self.caps[(room_id, identity)] = kbps

    async def set_audio_only(self, room_id: str, identity: str, enabled: bool) -> None:
        self.audio_only[(room_id, identity)] = enabled

    def subscriber_links(self, room_id: str, identity: str) -> list[dict[str, Any]]:
        return []

    async def remove_participant(self, room_id: str, identity: str) -> None:
        self.participants.discard((room_id, identity))

    async def close_room(self, room_id: str) -> None:
        self.participants = {p for p in self.participants if p[0] != room_id}

    async def close(self) -> None:
        self.participants.clear()

    def stats(self) -> MediaStats:
        return MediaStats(subscriptions=len(self.subscriptions))
