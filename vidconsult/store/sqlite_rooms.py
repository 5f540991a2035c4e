"""Rooms in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from vidconsult.domain.rooms import ChatLine, Room, RoomKind, RoomStatus
from vidconsult.errors import Conflict
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
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
    """
    ALTER TABLE rooms ADD COLUMN max_video_kbps INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE rooms ADD COLUMN lobby INTEGER NOT NULL DEFAULT 0;
    """,
    # the live room's admitted list and chat (kept until the room ends): see RoomStore
    """
    CREATE TABLE room_admitted (
        room_id TEXT NOT NULL,
        identity TEXT NOT NULL,
        admitted_at TEXT NOT NULL,
        PRIMARY KEY (room_id, identity)
    );
    CREATE TABLE room_chat (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        room_id TEXT NOT NULL,
        identity TEXT NOT NULL,
        name TEXT,
        text TEXT NOT NULL,
        sent_at TEXT NOT NULL
    );
    CREATE INDEX room_chat_room ON room_chat(room_id, seq);
    """,
    # the live room's raised hands, in the order they went up (kept until the room ends)
    """
    CREATE TABLE room_hands (
        room_id TEXT NOT NULL,
        identity TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (room_id, identity)
    );
    """,
]


class SQLiteRoomStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("rooms", MIGRATIONS)

    async def create_room(self, room: Room) -> None:
        def op() -> None:
            try:
                self._db.conn.execute(
                    "INSERT INTO rooms(id, name, kind, case_id, status, created_at, ended_at,"
                    " end_reason, max_participants, max_video_kbps, lobby)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    _room_row(room),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"room {room.id} exists", code="room_exists") from None

        await self._db.run(op)

    async def get_room(self, room_id: str) -> Room | None:
        def op() -> Room | None:
            row = self._db.conn.execute("SELECT * FROM rooms WHERE id = ?", (room_id,)).fetchone()
            return _room_from_row(row) if row else None

        return await self._db.run(op)

    async def list_rooms(self, status: RoomStatus | None = None, limit: int = 500) -> list[Room]:
        def op() -> list[Room]:
            if status is None:
                rows = self._db.conn.execute(
                    "SELECT * FROM rooms ORDER BY created_at DESC LIMIT ?", (limit,)
                )
            else:
                rows = self._db.conn.execute(
                    "SELECT * FROM rooms WHERE status = ? ORDER BY created_at DESC LIMIT ?",
                    (status.value, limit),
                )
            return [_room_from_row(r) for r in rows]

        return await self._db.run(op)

    async def save_room(self, room: Room) -> None:
        def op() -> None:
            self._db.conn.execute(
                "UPDATE rooms SET name=?, status=?, ended_at=?, end_reason=?, max_video_kbps=?,"
                " lobby=? WHERE id=?",
                (
                    room.name,
                    room.status.value,
                    room.ended_at.isoformat() if room.ended_at else None,
                    room.end_reason,
                    room.max_video_kbps,
                    int(room.lobby),
                    room.id,
                ),
            )

        await self._db.run(op)

    async def add_admitted(self, room_id: str, identity: str, at: datetime) -> None:
        def op() -> None:
            self._db.conn.execute(
                "INSERT OR IGNORE INTO room_admitted(room_id, identity, admitted_at)"
                " VALUES (?,?,?)",
                (room_id, identity, at.isoformat()),
            )

        await self._db.run(op)

    async def admitted(self, room_id: str) -> set[str]:
        def op() -> set[str]:
            rows = self._db.conn.execute(
                "SELECT identity FROM room_admitted WHERE room_id = ?", (room_id,)
            )
            return {row["identity"] for row in rows}

        return await self._db.run(op)

    async def add_chat_line(self, room_id: str, line: ChatLine, keep: int) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO room_chat(id, room_id, identity, name, text, sent_at)"
                " VALUES (?,?,?,?,?,?)",
                (line.id, room_id, line.identity, line.name, line.text, line.sent_at.isoformat()),
            )
            conn.execute(
                "DELETE FROM room_chat WHERE room_id = ? AND seq <= (SELECT seq FROM room_chat"
                " WHERE room_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (room_id, room_id, keep),
            )

        await self._db.transaction(op)

    async def chat_lines(self, room_id: str) -> list[ChatLine]:
        def op() -> list[ChatLine]:
            rows = self._db.conn.execute(
                "SELECT * FROM room_chat WHERE room_id = ? ORDER BY seq", (room_id,)
            )
            return [
                ChatLine(
                    id=row["id"],
                    identity=row["identity"],
                    name=row["name"],
                    text=row["text"],
                    sent_at=datetime.fromisoformat(row["sent_at"]),
                )
                for row in rows
            ]

        return await self._db.run(op)

    async def set_hand(self, room_id: str, identity: str, raised_at: datetime | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if raised_at is None:
                conn.execute(
                    "DELETE FROM room_hands WHERE room_id = ? AND identity = ?",
                    (room_id, identity),
                )
                return
            conn.execute(
                "INSERT OR IGNORE INTO room_hands(room_id, identity, raised_at, seq)"
                " VALUES (?,?,?,(SELECT COALESCE(MAX(seq), 0) + 1 FROM room_hands))",
                (room_id, identity, raised_at.isoformat()),
            )

        await self._db.transaction(op)

    async def hands(self, room_id: str) -> list[tuple[str, datetime]]:
        def op() -> list[tuple[str, datetime]]:
            rows = self._db.conn.execute(
                "SELECT identity, raised_at FROM room_hands WHERE room_id = ?"
                " ORDER BY raised_at, seq",
                (room_id,),
            )
            return [(row["identity"], datetime.fromisoformat(row["raised_at"])) for row in rows]

        return await self._db.run(op)

    async def forget_live(self, room_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM room_admitted WHERE room_id = ?", (room_id,))
            conn.execute("DELETE FROM room_hands WHERE room_id = ?", (room_id,))
            conn.execute("DELETE FROM room_chat WHERE room_id = ?", (room_id,))

        await self._db.transaction(op)


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
        room.max_video_kbps,
        int(room.lobby),
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
        max_video_kbps=row["max_video_kbps"],
        lobby=bool(row["lobby"]),
    )
