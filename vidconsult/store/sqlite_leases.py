"""Named leases in SQLite: one owner at a time (the scheduler's "only one acts" lock)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_ts REAL NOT NULL
    );
    """,
]


class SQLiteLeaseStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("leases", MIGRATIONS)

    async def acquire(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        now_ts, until = now.timestamp(), (now + ttl).timestamp()

        def op(conn: sqlite3.Connection) -> bool:
            # BEGIN IMMEDIATE (transaction()) holds the write lock: read-then-write is atomic
            # across processes sharing the database file
            row = conn.execute(
                "SELECT owner, expires_ts FROM leases WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row["owner"] != owner and row["expires_ts"] > now_ts:
                return False
            conn.execute(
                "INSERT INTO leases(name, owner, expires_ts) VALUES (?, ?, ?) ON CONFLICT(name)"
                " DO UPDATE SET owner = excluded.owner, expires_ts = excluded.expires_ts",
                (name, owner, until),
            )
            return True

        return await self._db.transaction(op)

    async def release(self, name: str, owner: str) -> None:
        def op() -> None:
            self._db.conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

        await self._db.run(op)
