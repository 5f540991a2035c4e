"""An expert asks for leave from their workspace; a coordinator approves or declines it.
Approved, it becomes a :class:`vidconsult.domain.rosters.Leave` on the expert's roster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.rosters import Leave
from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import Conflict, InvalidInput

MAX_REASON = 500


class LeaveStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


@dataclass(slots=True)
class LeaveRequest:
    id: str
    expert_id: str
    start: datetime
    end: datetime
    reason: str
    requested_at: datetime
    status: LeaveStatus = LeaveStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str = ""

    def __post_init__(self) -> None:
        require_aware(self.requested_at, "requested_at")
        Leave(self.start, self.end, self.reason)  # the same rules as leave on a roster
        if len(self.reason) > MAX_REASON or len(self.note) > MAX_REASON:
            raise InvalidInput(f"reason and note must be at most {MAX_REASON} characters")

    @property
    def leave(self) -> Leave:
        return Leave(self.start, self.end, self.reason)

    def decide(self, approve: bool, *, by: str, at: datetime, note: str = "") -> None:
        require_aware(at, "at")
        if self.status is not LeaveStatus.PENDING:
            raise Conflict(f"leave request {self.id} was {self.status.value}", code="decided")
        if len(note) > MAX_REASON:
            raise InvalidInput(f"note must be at most {MAX_REASON} characters")
        self.status = LeaveStatus.APPROVED if approve else LeaveStatus.DECLINED
        self.decided_by = by
        self.decided_at = at
        self.note = note.strip()
