"""The recordings archive in SQLite: one row per participant file (the index), rooms'
recording policies, cases on legal hold, composite export jobs."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from vidconsult.domain.recordings import Recording, RecordingPolicy, RecordingStatus
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE recordings (
        id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL,
        case_id TEXT,
        identity TEXT NOT NULL,
        role TEXT NOT NULL,
        path TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        kinds TEXT NOT NULL,
        codecs TEXT NOT NULL,
        duration_ms INTEGER NOT NULL DEFAULT 0,
        offset_ms INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT NOT NULL DEFAULT '',
        error TEXT,
        legal_hold INTEGER NOT NULL DEFAULT 0,
        session_id TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX recordings_room ON recordings(room_id);
    CREATE INDEX recordings_case ON recordings(case_id);
    CREATE INDEX recordings_started ON recordings(started_at);
    CREATE INDEX recordings_status ON recordings(status);
    CREATE TABLE recording_policies (
        room_id TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        case_id TEXT,
        consent INTEGER,
        consent_by TEXT,
        consent_at TEXT,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE recording_holds (
        case_id TEXT PRIMARY KEY,
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL
    );
    CREATE TABLE recording_exports (
        id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL,
        data TEXT NOT NULL
    );
    """,
    # what a file holds: a participant's camera and microphone, or the screen it shared
    "ALTER TABLE recordings ADD COLUMN source TEXT NOT NULL DEFAULT 'camera';",
    # the node whose recorder writes the file (several nodes share one index)
    "ALTER TABLE recordings ADD COLUMN node_id TEXT NOT NULL DEFAULT '';",
    # kinds of published tracks that never reached the file (comma-separated, as kinds)
    "ALTER TABLE recordings ADD COLUMN missing TEXT NOT NULL DEFAULT '';",
]

_COLUMNS = (
    "id",
    "room_id",
    "case_id",
    "identity",
    "role",
    "path",
    "started_at",
    "ended_at",
    "status",
    "kinds",
    "codecs",
    "duration_ms",
    "offset_ms",
    "size",
    "sha256",
    "error",
    "legal_hold",
    "session_id",
    "source",
    "node_id",
    "missing",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _row(r: Recording) -> tuple[Any, ...]:
    return (
        r.id,
        r.room_id,
        r.case_id,
        r.identity,
        r.role,
        r.path,
        _iso(r.started_at),
        _iso(r.ended_at),
        r.status.value,
        ",".join(r.kinds),
        ",".join(r.codecs),
        r.duration_ms,
        r.offset_ms,
        r.size,
        r.sha256,
        r.error,
        int(r.legal_hold),
        r.session_id,
        r.source,
        r.node_id,
        ",".join(r.missing),
    )


def _recording(row: sqlite3.Row) -> Recording:
    return Recording(
        id=row["id"],
        room_id=row["room_id"],
        case_id=row["case_id"],
        identity=row["identity"],
        role=row["role"],
        path=row["path"],
        started_at=datetime.fromisoformat(row["started_at"]),
        ended_at=datetime.fromisoformat(row["ended_at"]) if row["ended_at"] else None,
        status=RecordingStatus(row["status"]),
        kinds=[k for k in row["kinds"].split(",") if k],
        codecs=[c for c in row["codecs"].split(",") if c],
        duration_ms=row["duration_ms"],
        offset_ms=row["offset_ms"],
        size=row["size"],
        sha256=row["sha256"],
        error=row["error"],
        legal_hold=bool(row["legal_hold"]),
        session_id=row["session_id"],
        source=row["source"],
        node_id=row["node_id"],
        missing=[k for k in row["missing"].split(",") if k],
    )


class SQLiteRecordingStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("recordings", MIGRATIONS)

    async def add_recording(self, recording: Recording) -> None:
        marks = ",".join("?" * len(_COLUMNS))

        def op() -> None:
            self._db.conn.execute(
                f"INSERT INTO recordings({','.join(_COLUMNS)}) VALUES ({marks})", _row(recording)
            )

        await self._db.run(op)

    async def save_recording(self, recording: Recording) -> None:
        sets = ",".join(f"{c}=?" for c in _COLUMNS[1:])

        def op() -> None:
            row = _row(recording)
            self._db.conn.execute(f"UPDATE recordings SET {sets} WHERE id=?", row[1:] + row[:1])

        await self._db.run(op)

    async def get_recording(self, recording_id: str) -> Recording | None:
        def op() -> Recording | None:
            row = self._db.conn.execute(
                "SELECT * FROM recordings WHERE id=?", (recording_id,)
            ).fetchone()
            return _recording(row) if row else None

        return await self._db.run(op)

    async def list_recordings(
        self,
        *,
        room_id: str | None = None,
        case_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        limit: int = 500,
        newest_first: bool = False,
        node_id: str | None = None,
    ) -> list[Recording]:
        where: list[str] = []
        args: list[str | int] = []
        for column, value in (
            ("room_id", room_id),
            ("case_id", case_id),
            ("status", status),
            ("node_id", node_id),
        ):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if since is not None:
            where.append("started_at>=?")
            args.append(since.isoformat())
        if until is not None:
            where.append("started_at<?")
            args.append(until.isoformat())
        sql = "SELECT * FROM recordings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += (
            " ORDER BY started_at DESC, id DESC LIMIT ?"
            if newest_first
            else " ORDER BY started_at, id LIMIT ?"
        )
        args.append(limit)

        def op() -> list[Recording]:
            return [_recording(r) for r in self._db.conn.execute(sql, args)]

        return await self._db.run(op)

    async def get_policy(self, room_id: str) -> RecordingPolicy | None:
        def op() -> RecordingPolicy | None:
            row = self._db.conn.execute(
                "SELECT * FROM recording_policies WHERE room_id=?", (room_id,)
            ).fetchone()
            if row is None:
                return None
            return RecordingPolicy(
                room_id=row["room_id"],
                enabled=bool(row["enabled"]),
                case_id=row["case_id"],
                consent=None if row["consent"] is None else bool(row["consent"]),
                consent_by=row["consent_by"],
                consent_at=datetime.fromisoformat(row["consent_at"]) if row["consent_at"] else None,
                note=row["note"],
            )

        return await self._db.run(op)

    async def save_policy(self, policy: RecordingPolicy) -> None:
        def op() -> None:
            self._db.conn.execute(
                "INSERT OR REPLACE INTO recording_policies(room_id, enabled, case_id, consent,"
                " consent_by, consent_at, note) VALUES (?,?,?,?,?,?,?)",
                (
                    policy.room_id,
                    int(policy.enabled),
                    policy.case_id,
                    None if policy.consent is None else int(policy.consent),
                    policy.consent_by,
                    _iso(policy.consent_at),
                    policy.note,
                ),
            )

        await self._db.run(op)

    async def held_cases(self) -> set[str]:
        def op() -> set[str]:
            return {r[0] for r in self._db.conn.execute("SELECT case_id FROM recording_holds")}

        return await self._db.run(op)

    async def set_case_hold(self, case_id: str, held: bool, by: str, at: datetime) -> None:
        def op() -> None:
            if held:
                self._db.conn.execute(
                    "INSERT OR REPLACE INTO recording_holds(case_id, set_by, set_at)"
                    " VALUES (?,?,?)",
                    (case_id, by, at.isoformat()),
                )
            else:
                self._db.conn.execute("DELETE FROM recording_holds WHERE case_id=?", (case_id,))

        await self._db.run(op)

    async def save_export(self, job: dict[str, Any]) -> None:
        def op() -> None:
            self._db.conn.execute(
                "INSERT OR REPLACE INTO recording_exports(id, room_id, data) VALUES (?,?,?)",
                (job["id"], job["room_id"], json.dumps(job)),
            )

        await self._db.run(op)

    async def finish_export(self, job: dict[str, Any], *, node_id: str) -> bool:
        def op() -> bool:
            cur = self._db.conn.execute(
                "UPDATE recording_exports SET room_id=?, data=? WHERE id=?"
                " AND json_extract(data, '$.status') = 'running'"
                " AND coalesce(json_extract(data, '$.node_id'), '') = ?",
                (job["room_id"], json.dumps(job), job["id"], node_id),
            )
            return cur.rowcount == 1

        return await self._db.run(op)

    async def get_export(self, job_id: str) -> dict[str, Any] | None:
        def op() -> dict[str, Any] | None:
            row = self._db.conn.execute(
                "SELECT data FROM recording_exports WHERE id=?", (job_id,)
            ).fetchone()
            return json.loads(row[0]) if row else None

        return await self._db.run(op)

    async def list_exports(
        self, *, status: str | None = None, node_id: str | None = None
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if status is not None:
            where.append("json_extract(data, '$.status') = ?")
            args.append(status)
        if node_id is not None:
            where.append("coalesce(json_extract(data, '$.node_id'), '') = ?")
            args.append(node_id)
        sql = "SELECT data FROM recording_exports"
        if where:
            sql += " WHERE " + " AND ".join(where)

        def op() -> list[dict[str, Any]]:
            rows = self._db.conn.execute(sql + " ORDER BY id", args).fetchall()
            return [json.loads(r[0]) for r in rows]

        return await self._db.run(op)
