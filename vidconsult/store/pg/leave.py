"""Experts' leave requests on PostgreSQL; the same contract as ``sqlite_leave``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.leave_requests import LeaveRequest, LeaveStatus
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase


class PgLeaveRequestStore:
    """Implements LeaveRequestStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_leave_request(self, request: LeaveRequest) -> None:
        r = request
        async with self._db.begin() as conn:
            await conn.execute(
                insert(t.leave_requests).values(
                    id=r.id,
                    expert_id=r.expert_id,
                    start=r.start,
                    end=r.end,
                    reason=r.reason,
                    requested_at=r.requested_at,
                    status=r.status.value,
                    decided_by=r.decided_by,
                    decided_at=r.decided_at,
                    note=r.note,
                )
            )

    async def get_leave_request(self, request_id: str) -> LeaveRequest | None:
        stmt = select(t.leave_requests).where(t.leave_requests.c.id == request_id)
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return _request(row) if row else None

    async def list_leave_requests(
        self, *, expert_id: str | None = None, status: LeaveStatus | None = None
    ) -> list[LeaveRequest]:
        c = t.leave_requests.c
        stmt = select(t.leave_requests).order_by(c.requested_at.desc()).limit(500)
        if expert_id is not None:
            stmt = stmt.where(c.expert_id == expert_id)
        if status is not None:
            stmt = stmt.where(c.status == status.value)
        async with self._db.begin() as conn:
            return [_request(r) for r in (await conn.execute(stmt)).all()]

    async def save_leave_request(self, request: LeaveRequest) -> None:
        r = request
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.leave_requests)
                .where(t.leave_requests.c.id == r.id)
                .values(
                    status=r.status.value,
                    decided_by=r.decided_by,
                    decided_at=r.decided_at,
                    note=r.note,
                )
            )


def _request(row: Any) -> LeaveRequest:
    return LeaveRequest(
        id=row.id,
        expert_id=row.expert_id,
        start=row.start,
        end=row.end,
        reason=row.reason,
        requested_at=row.requested_at,
        status=LeaveStatus(row.status),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        note=row.note,
    )
