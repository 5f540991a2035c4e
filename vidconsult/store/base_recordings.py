"""The recordings archive's repository interface (index rows, policies, legal holds, exports)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from vidconsult.domain.recordings import Recording, RecordingPolicy


class RecordingStore(Protocol):
    async def add_recording(self, recording: Recording) -> None: ...

    async def save_recording(self, recording: Recording) -> None: ...

    async def get_recording(self, recording_id: str) -> Recording | None: ...

    async def list_recordings(
        self,
        *,
        room_id: str | None = None,
        case_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        limit: int = 500,
        newest_first: bool = False,
        node_id: str | None = None,
    ) -> list[Recording]:
        """``node_id``: only the files of that node's recorder."""
        ...

    async def get_policy(self, room_id: str) -> RecordingPolicy | None: ...

    async def save_policy(self, policy: RecordingPolicy) -> None: ...

    async def held_cases(self) -> set[str]: ...

    async def set_case_hold(self, case_id: str, held: bool, by: str, at: datetime) -> None: ...

    async def save_export(self, job: dict[str, Any]) -> None: ...

    async def finish_export(self, job: dict[str, Any], *, node_id: str) -> bool:
        """Write ``job`` (its outcome: done or failed) only if the stored job is still
        ``running`` under ``node_id``'s claim (a job kept before jobs named their node counts
        as node ``""``), as one atomic step; False, nothing written, when it is not: another
        node (or this one's restart) already marked it failed, and that verdict stands."""
        ...

    async def get_export(self, job_id: str) -> dict[str, Any] | None: ...

    async def list_exports(
        self, *, status: str | None = None, node_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Export jobs by ``status`` and by the node that runs them (``node_id``: a job kept
        before jobs named their node counts as node ``""``)."""
        ...
