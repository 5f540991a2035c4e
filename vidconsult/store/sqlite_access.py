"""The access log in SQLite: an append-only table, indexed by case and by room."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from vidconsult.domain.access import AccessEntry, AccessKind
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE access_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ts REAL NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        case_id TEXT,
        room_id TEXT,
        note TEXT NOT NULL
    );
    CREATE INDEX access_log_case ON access_log(case_id, seq);
    CREATE INDEX access_log_room ON access_log(room_id, seq);
    """,
]


class SQLiteAccessLogStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("access_log", MIGRATIONS)

    async def add_access(self, entry: AccessEntry) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO access_log(at_ts, actor, role, action, subject, case_id, room_id,"
                " note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.at.timestamp(),
                    entry.actor,
                    entry.role,
                    entry.action.value,
                    entry.subject,
                    entry.case_id,
                    entry.room_id,
                    entry.note,
                ),
            )

        await self._db.transaction(op)

    async def list_access(
        self, *, case_id: str | None = None, room_id: str | None = None, limit: int = 1000
    ) -> list[AccessEntry]:
        where, args = [], []
        if case_id is not None:
            where.append("case_id = ?")
            args.append(case_id)
        if room_id is not None:
            where.append("room_id = ?")
            args.append(room_id)
        if not where:
            return []
        sql = (
            "SELECT * FROM (SELECT * FROM access_log WHERE "
            + " OR ".join(where)
            + " ORDER BY seq DESC LIMIT ?) ORDER BY seq"
        )

        def op() -> list[AccessEntry]:
            return [_entry(r) for r in self._db.conn.execute(sql, [*args, limit])]

        return await self._db.run(op)


def _entry(row: Any) -> AccessEntry:
    return AccessEntry(
        at=datetime.fromtimestamp(row["at_ts"], UTC),
        actor=row["actor"],
        role=row["role"],
        action=AccessKind(row["action"]),
        subject=row["subject"],
        case_id=row["case_id"],
        room_id=row["room_id"],
        note=row["note"],
    )
