"""Storage interface of the access log (who read which medical data)."""

from __future__ import annotations

from typing import Protocol

from vidconsult.domain.access import AccessEntry


class AccessLogStore(Protocol):
    async def add_access(self, entry: AccessEntry) -> None:
        """Append (entries are never changed nor deleted)."""

    async def list_access(
        self, *, case_id: str | None = None, room_id: str | None = None, limit: int = 1000
    ) -> list[AccessEntry]:
        """A case's or a room's entries (both given: either matches), oldest first, the
        newest ``limit`` of them."""
        ...
