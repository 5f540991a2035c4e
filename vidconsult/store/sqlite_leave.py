"""Experts' leave requests in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from vidconsult.domain.leave_requests import LeaveRequest, LeaveStatus
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_records import iso

MIGRATIONS = [
    """
    CREATE TABLE leave_requests (
        id TEXT PRIMARY KEY,
        expert_id TEXT NOT NULL,
        start TEXT NOT NULL,
        end TEXT NOT NULL,
        reason TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        status TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX leave_requests_expert ON leave_requests(expert_id, requested_at);
    """,
]


class SQLiteLeaveRequestStore:
    """Implements LeaveRequestStore."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("leave_requests", MIGRATIONS)

    async def add_leave_request(self, request: LeaveRequest) -> None:
        r = request

        def op() -> None:
            self._db.conn.execute(
                "INSERT INTO leave_requests(id, expert_id, start, end, reason, requested_at,"
                " status, decided_by, decided_at, note) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    r.id,
                    r.expert_id,
                    iso(r.start),
                    iso(r.end),
                    r.reason,
                    iso(r.requested_at),
                    r.status.value,
                    r.decided_by,
                    iso(r.decided_at) if r.decided_at else None,
                    r.note,
                ),
            )

        await self._db.run(op)

    async def get_leave_request(self, request_id: str) -> LeaveRequest | None:
        def op() -> LeaveRequest | None:
            row = self._db.conn.execute(
                "SELECT * FROM leave_requests WHERE id = ?", (request_id,)
            ).fetchone()
            return _request(row) if row else None

        return await self._db.run(op)

    async def list_leave_requests(
        self, *, expert_id: str | None = None, status: LeaveStatus | None = None
    ) -> list[LeaveRequest]:
        def op() -> list[LeaveRequest]:
            rows = self._db.conn.execute(
                "SELECT * FROM leave_requests WHERE (? IS NULL OR expert_id = ?)"
                " AND (? IS NULL OR status = ?) ORDER BY requested_at DESC LIMIT 500",
                (expert_id, expert_id, status and status.value, status and status.value),
            )
            return [_request(r) for r in rows]

        return await self._db.run(op)

    async def save_leave_request(self, request: LeaveRequest) -> None:
        r = request

        def op() -> None:
            self._db.conn.execute(
                "UPDATE leave_requests SET status=?, decided_by=?, decided_at=?, note=? WHERE id=?",
                (
                    r.status.value,
                    r.decided_by,
                    iso(r.decided_at) if r.decided_at else None,
                    r.note,
                    r.id,
                ),
            )

        await self._db.run(op)


def _request(row: sqlite3.Row) -> LeaveRequest:
    return LeaveRequest(
        id=row["id"],
        expert_id=row["expert_id"],
        start=datetime.fromisoformat(row["start"]),
        end=datetime.fromisoformat(row["end"]),
        reason=row["reason"],
        requested_at=datetime.fromisoformat(row["requested_at"]),
        status=LeaveStatus(row["status"]),
        decided_by=row["decided_by"],
        decided_at=datetime.fromisoformat(row["decided_at"]) if row["decided_at"] else None,
        note=row["note"],
    )
