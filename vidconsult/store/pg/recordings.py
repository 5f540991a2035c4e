"""The recordings archive's index on PostgreSQL (rows, room policies, legal holds, export
jobs); the same contract as ``sqlite_recordings``. The files stay on the recording node's disk
(``recording_files``): the index is what every node shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.recordings import Recording, RecordingPolicy
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.rows import RowMap

RECORDINGS = RowMap(Recording, t.recordings)
POLICIES = RowMap(RecordingPolicy, t.recording_policies)


class PgRecordingStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_recording(self, recording: Recording) -> None:
        async with self._db.begin() as conn:
            await conn.execute(insert(t.recordings).values(RECORDINGS.values(recording)))

    async def save_recording(self, recording: Recording) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.recordings)
                .where(t.recordings.c.id == recording.id)
                .values(_changeable(recording))
            )

    async def get_recording(self, recording_id: str) -> Recording | None:
        stmt = select(t.recordings).where(t.recordings.c.id == recording_id)
        return await self._db.first(stmt, RECORDINGS.load)

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
        return await self._db.every(stmt, RECORDINGS.load)

    async def get_policy(self, room_id: str) -> RecordingPolicy | None:
        stmt = select(t.recording_policies).where(t.recording_policies.c.room_id == room_id)
        return await self._db.first(stmt, POLICIES.load)

    async def save_policy(self, policy: RecordingPolicy) -> None:
        values = POLICIES.values(policy)
        stmt = insert(t.recording_policies).values(values)
        values.pop("room_id")
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

    async def finish_export(self, job: dict[str, Any], *, node_id: str) -> bool:
        row = t.recording_exports
        stmt = (
            update(row)
            .where(
                row.c.id == job["id"],
                row.c.data["status"].astext == "running",
                func.coalesce(row.c.data["node_id"].astext, "") == node_id,
            )
            .values(room_id=job["room_id"], data=job)
        )
        async with self._db.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount == 1)

    async def get_export(self, job_id: str) -> dict[str, Any] | None:
        stmt = select(t.recording_exports.c.data).where(t.recording_exports.c.id == job_id)
        async with self._db.begin() as conn:
            data: dict[str, Any] | None = await conn.scalar(stmt)
        return data

    async def list_exports(
        self, *, status: str | None = None, node_id: str | None = None
    ) -> list[dict[str, Any]]:
        data = t.recording_exports.c.data
        stmt = select(data).order_by(t.recording_exports.c.id)
        if status is not None:
            stmt = stmt.where(data["status"].astext == status)
        if node_id is not None:
            stmt = stmt.where(func.coalesce(data["node_id"].astext, "") == node_id)
        async with self._db.begin() as conn:
            return [dict(row) for row in (await conn.scalars(stmt)).all()]


def _changeable(recording: Recording) -> dict[str, Any]:
    """Every column but the key."""
    values = RECORDINGS.values(recording)
    values.pop("id")
    return values
