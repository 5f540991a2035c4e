"""Storage interface of experts' leave requests."""

from __future__ import annotations

from typing import Protocol

from vidconsult.domain.leave_requests import LeaveRequest, LeaveStatus


class LeaveRequestStore(Protocol):
    async def add_leave_request(self, request: LeaveRequest) -> None: ...

    async def get_leave_request(self, request_id: str) -> LeaveRequest | None: ...

    async def list_leave_requests(
        self, *, expert_id: str | None = None, status: LeaveStatus | None = None
    ) -> list[LeaveRequest]:
        """Newest first."""
        ...

    async def save_leave_request(self, request: LeaveRequest) -> None: ...
