"""Experts' leave requests on PostgreSQL; the same contract as ``sqlite_leave``."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.leave_requests import LeaveRequest, LeaveStatus
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.rows import RowMap

LEAVE_REQUESTS = RowMap(LeaveRequest, t.leave_requests)


class PgLeaveRequestStore:
    """Implements LeaveRequestStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_leave_request(self, request: LeaveRequest) -> None:
        async with self._db.begin() as conn:
            await conn.execute(insert(t.leave_requests).values(LEAVE_REQUESTS.values(request)))

    async def get_leave_request(self, request_id: str) -> LeaveRequest | None:
        stmt = select(t.leave_requests).where(t.leave_requests.c.id == request_id)
        return await self._db.first(stmt, LEAVE_REQUESTS.load)

    async def list_leave_requests(
        self, *, expert_id: str | None = None, status: LeaveStatus | None = None
    ) -> list[LeaveRequest]:
        c = t.leave_requests.c
        stmt = select(t.leave_requests).order_by(c.requested_at.desc()).limit(500)
        if expert_id is not None:
            stmt = stmt.where(c.expert_id == expert_id)
        if status is not None:
            stmt = stmt.where(c.status == status.value)
        return await self._db.every(stmt, LEAVE_REQUESTS.load)

    async def save_leave_request(self, request: LeaveRequest) -> None:
        values = LEAVE_REQUESTS.values(request, "status", "decided_by", "decided_at", "note")
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.leave_requests).where(t.leave_requests.c.id == request.id).values(values)
            )
