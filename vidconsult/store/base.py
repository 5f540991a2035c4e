"""The storage interfaces the services depend on. Each has an embedded (SQLite)
implementation and a Redis one, run through the same contract tests."""

from __future__ import annotations

from typing import Protocol

from vidconsult.domain.rooms import Room, RoomStatus


class Database(Protocol):
    """The lifecycle of a storage backend; repositories are built on top of it."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class RoomStore(Protocol):
    async def create_room(self, room: Room) -> None:
        """Insert a new room; raises Conflict if the id exists."""

    async def get_room(self, room_id: str) -> Room | None: ...

    async def list_rooms(
        self, status: RoomStatus | None = None, limit: int = 500
    ) -> list[Room]: ...

    async def save_room(self, room: Room) -> None:
        """Update a room's mutable fields (status, ended_at, end_reason)."""
