"""Embedded store: SQLite in WAL mode, one connection owned by one worker thread.

Every call runs on that thread (``sqlite3`` objects must not cross threads), so the event loop
never blocks on disk and writes are serialized without extra locks.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from vidconsult.domain.rooms import Room, RoomKind, RoomStatus
from vidconsult.errors import Conflict

log = logging.getLogger(__name__)
T = TypeVar("T")

# Append-only: a migration, once released, is never edited.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        case_id TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT,
        max_participants INTEGER NOT NULL
    );
    CREATE INDEX rooms_status ON rooms(status);
    CREATE INDEX rooms_case ON rooms(case_id);
    """,
]


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    # lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        await self._run(self._connect)

    async def close(self) -> None:
        if self._executor is None:
            return
        await self._run(self._disconnect)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _connect(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        self._migrate(conn)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            log.info("applying migration version=%s", version)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_version(version) VALUES (?)", (version,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    # rooms ---------------------------------------------------------------------------------
    async def create_room(self, room: Room) -> None:
        def op() -> None:
            try:
                self.conn.execute(
                    "INSERT INTO rooms(id, name, kind, case_id, status, created_at, ended_at,"
                    " end_reason, max_participants) VALUES (?,?,?,?,?,?,?,?,?)",
                    _room_row(room),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"room {room.id} exists", code="room_exists") from None

        await self._run(op)

    async def get_room(self, room_id: str) -> Room | None:
        def op() -> Room | None:
            row = self.conn.execute("SELECT * FROM rooms WHERE id = ?", (room_id,)).fetchone()
            return _room_from_row(row) if row else None

        return await self._run(op)

    async def list_rooms(self, status: RoomStatus | None = None, limit: int = 500) -> list[Room]:
        def op() -> list[Room]:
            if status is None:
                rows = self.conn.execute(
                    "SELECT * FROM rooms ORDER BY created_at DESC LIMIT ?", (limit,)
                )
            else:
                rows = self.conn.execute(
                    "SELECT * FROM rooms WHERE status = ? ORDER BY created_at DESC LIMIT ?",
                    (status.value, limit),
                )
            return [_room_from_row(r) for r in rows]

        return await self._run(op)

    async def save_room(self, room: Room) -> None:
        def op() -> None:
            self.conn.execute(
                "UPDATE rooms SET name=?, status=?, ended_at=?, end_reason=? WHERE id=?",
                (
                    room.name,
                    room.status.value,
                    room.ended_at.isoformat() if room.ended_at else None,
                    room.end_reason,
                    room.id,
                ),
            )

        await self._run(op)


def _room_row(room: Room) -> tuple[Any, ...]:
    return (
        room.id,
        room.name,
        room.kind.value,
        room.case_id,
        room.status.value,
        room.created_at.isoformat(),
        room.ended_at.isoformat() if room.ended_at else None,
        room.end_reason,
        room.max_participants,
    )


def _room_from_row(row: sqlite3.Row) -> Room:
    return Room(
        id=row["id"],
        name=row["name"],
        kind=RoomKind(row["kind"]),
        case_id=row["case_id"],
        status=RoomStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        ended_at=datetime.fromisoformat(row["ended_at"]) if row["ended_at"] else None,
        end_reason=row["end_reason"],
        max_participants=row["max_participants"],
    )
