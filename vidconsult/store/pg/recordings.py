"""The recordings archive's index on PostgreSQL (rows, room policies, legal holds, export
jobs); the same contract as ``sqlite_recordings``. The files stay on the recording node's disk
(``recording_files``): the index is what every node shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.recordings import Recording, RecordingPolicy, RecordingStatus
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase


def _values(r: Recording) -> dict[str, Any]:
    return {
        "room_id": r.room_id,
        "case_id": r.case_id,
        "identity": r.identity,
        "role": r.role,
        "path": r.path,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "status": r.status.value,
        "kinds": list(r.kinds),
        "codecs": list(r.codecs),
        "duration_ms": r.duration_ms,
        "offset_ms": r.offset_ms,
        "size": r.size,
        "sha256": r.sha256,
        "error": r.error,
        "legal_hold": r.legal_hold,
        "session_id": r.session_id,
        "source": r.source,
        "node_id": r.node_id,
    }


def _recording(row: Any) -> Recording:
    return Recording(
        id=row.id,
        room_id=row.room_id,
        case_id=row.case_id,
        identity=row.identity,
        role=row.role,
        path=row.path,
        started_at=row.started_at,
        ended_at=row.ended_at,
        status=RecordingStatus(row.status),
        kinds=list(row.kinds),
        codecs=list(row.codecs),
        duration_ms=row.duration_ms,
        offset_ms=row.offset_ms,
        size=row.size,
        sha256=row.sha256,
        error=row.error,
        legal_hold=row.legal_hold,
        session_id=row.session_id,
        source=row.source,
        node_id=row.node_id,
    )


class PgRecordingStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_recording(self, recording: Recording) -> None:
        async with self._db.begin() as conn:
            await conn.execute(insert(t.recordings).values(id=recording.id, **_values(recording)))

    async def save_recording(self, recording: Recording) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.recordings)
                .where(t.recordings.c.id == recording.id)
                .values(**_values(recording))
            )

    async def get_recording(self, recording_id: str) -> Recording | None:
        stmt = select(t.recordings).where(t.recordings.c.id == recording_id)
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return _recording(row) if row else None

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
        c = t.recordings.c
        stmt = select(t.recordings)
        if node_id is not None:
            stmt = stmt.where(c.node_id == node_id)
        if room_id is not None:
            stmt = stmt.where(c.room_id == room_id)
        if case_id is not None:
            stmt = stmt.where(c.case_id == case_id)
        if status is not None:
            stmt = stmt.where(c.status == status)
        if since is not None:
            stmt = stmt.where(c.started_at >= since)
        if until is not None:
            stmt = stmt.where(c.started_at < until)
        order = (c.started_at.desc(), c.id.desc()) if newest_first else (c.started_at, c.id)
        stmt = stmt.order_by(*order).limit(limit)
        async with self._db.begin() as conn:
            return [_recording(r) for r in (await conn.execute(stmt)).all()]

    async def get_policy(self, room_id: str) -> RecordingPolicy | None:
        stmt = select(t.recording_policies).where(t.recording_policies.c.room_id == room_id)
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return RecordingPolicy(
            room_id=row.room_id,
            enabled=row.enabled,
            case_id=row.case_id,
            consent=row.consent,
            consent_by=row.consent_by,
            consent_at=row.consent_at,
            note=row.note,
        )

    async def save_policy(self, policy: RecordingPolicy) -> None:
        values = {
            "enabled": policy.enabled,
            "case_id": policy.case_id,
            "consent": policy.consent,
            "consent_by": policy.consent_by,
            "consent_at": policy.consent_at,
            "note": policy.note,
        }
        stmt = insert(t.recording_policies).values(room_id=policy.room_id, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.recording_policies.c.room_id], set_=values
        )
        async with self._db.begin() as conn:
            await conn.execute(stmt)

    async def held_cases(self) -> set[str]:
        async with self._db.begin() as conn:
            return set(await conn.scalars(select(t.recording_holds.c.case_id)))

    async def set_case_hold(self, case_id: str, held: bool, by: str, at: datetime) -> None:
        async with self._db.begin() as conn:
            if held:
                stmt = insert(t.recording_holds).values(case_id=case_id, set_by=by, set_at=at)
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[t.recording_holds.c.case_id],
                        set_={"set_by": by, "set_at": at},
                    )
                )
            else:
                await conn.execute(
                    delete(t.recording_holds).where(t.recording_holds.c.case_id == case_id)
                )

    async def save_export(self, job: dict[str, Any]) -> None:
        stmt = insert(t.recording_exports).values(id=job["id"], room_id=job["room_id"], data=job)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.recording_exports.c.id],
            set_={"room_id": job["room_id"], "data": job},
        )
        async with self._db.begin() as conn:
            await conn.execute(stmt)

    async def get_export(self, job_id: str) -> dict[str, Any] | None:
        stmt = select(t.recording_exports.c.data).where(t.recording_exports.c.id == job_id)
        async with self._db.begin() as conn:
            data: dict[str, Any] | None = await conn.scalar(stmt)
        return data
