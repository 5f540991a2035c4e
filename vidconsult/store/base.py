"""The storage interfaces the services depend on. Each has an embedded (SQLite)
implementation and a Redis one, run through the same contract tests."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from vidconsult.domain.rooms import ChatLine, Room, RoomStatus


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

    # the live room's own records, so that whichever node holds the room next has them (a
    # node killed mid-consultation loses nothing a participant saw): kept until the room ends
    async def add_admitted(self, room_id: str, identity: str, at: datetime) -> None:
        """Someone let in from the room's waiting room; a second add is ignored."""

    async def admitted(self, room_id: str) -> set[str]: ...

    async def add_chat_line(self, room_id: str, line: ChatLine, keep: int) -> None:
        """Append to the room's chat; only its last ``keep`` lines are kept; a second add
        of an id is ignored."""

    async def chat_lines(self, room_id: str) -> list[ChatLine]:
        """Oldest first."""
        ...

    async def set_hand(self, room_id: str, identity: str, raised_at: datetime | None) -> None:
        """A participant's hand went up at ``raised_at`` (a second raise keeps the first
        instant: its place in the queue), or down (None)."""

    async def hands(self, room_id: str) -> list[tuple[str, datetime]]:
        """The raised hands, (identity, raised at), in the order they went up."""
        ...

    async def forget_live(self, room_id: str) -> None:
        """The room ended: its admitted list, its chat lines and its raised hands go."""
