"""The token revocation list in SQLite: one row per revoked token or minter, deleted once
nothing it revokes could still be valid."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from vidconsult.domain.revocations import Revocation, RevocationKind
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE token_revocations (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        revoked_ts REAL NOT NULL,
        expires_ts REAL NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE INDEX token_revocations_expiry ON token_revocations(expires_ts);
    """,
]


class SQLiteRevocationStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("revocations", MIGRATIONS)

    async def add_revocation(self, entry: Revocation) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO token_revocations(kind, key, revoked_ts, expires_ts, reason)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET"
                " revoked_ts = excluded.revoked_ts, expires_ts = excluded.expires_ts,"
                " reason = excluded.reason WHERE excluded.revoked_ts >= revoked_ts",
                (
                    entry.kind.value,
                    entry.key,
                    entry.revoked_at.timestamp(),
                    entry.expires_at.timestamp(),
                    entry.reason,
                ),
            )

        await self._db.transaction(op)

    async def live_revocations(self, now: datetime) -> list[Revocation]:
        ts = now.timestamp()

        def op(conn: sqlite3.Connection) -> list[Revocation]:
            conn.execute("DELETE FROM token_revocations WHERE expires_ts <= ?", (ts,))
            rows = conn.execute(
                "SELECT kind, key, revoked_ts, expires_ts, reason FROM token_revocations"
                " ORDER BY revoked_ts"
            ).fetchall()
            return [
                Revocation(
                    RevocationKind(r["kind"]),
                    r["key"],
                    datetime.fromtimestamp(r["revoked_ts"], UTC),
                    datetime.fromtimestamp(r["expires_ts"], UTC),
                    r["reason"],
                )
                for r in rows
            ]

        return await self._db.transaction(op)
