"""Experts and their rosters (weekly shifts, leave, holidays) in SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from vidconsult.domain.experts import Expert
from vidconsult.domain.rosters import Roster
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import NotFound
from vidconsult.store.codec import expert_doc, expert_from, roster_doc, roster_from
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE experts (
        id TEXT PRIMARY KEY,
        doc TEXT NOT NULL
    );
    CREATE TABLE expert_specialties (
        expert_id TEXT NOT NULL REFERENCES experts(id) ON DELETE CASCADE,
        specialty TEXT NOT NULL,
        PRIMARY KEY (specialty, expert_id)
    );
    CREATE TABLE rosters (
        expert_id TEXT PRIMARY KEY REFERENCES experts(id) ON DELETE CASCADE,
        doc TEXT NOT NULL
    );
    """,
]


class SQLiteExpertStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("experts", MIGRATIONS)

    async def put_experts(self, experts: Sequence[Expert]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            for e in experts:
                conn.execute(
                    "INSERT INTO experts(id, doc) VALUES (?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                    (e.id, json.dumps(expert_doc(e))),
                )
                conn.execute("DELETE FROM expert_specialties WHERE expert_id = ?", (e.id,))
                conn.executemany(
                    "INSERT INTO expert_specialties(expert_id, specialty) VALUES (?, ?)",
                    [(e.id, s.value) for s in e.specialties],
                )

        await self._db.transaction(op)

    async def get_expert(self, expert_id: str) -> Expert | None:
        def op() -> Expert | None:
            row = self._db.conn.execute(
                "SELECT doc FROM experts WHERE id = ?", (expert_id,)
            ).fetchone()
            return expert_from(json.loads(row["doc"])) if row else None

        return await self._db.run(op)

    async def list_experts(self, specialty: Specialty | None = None) -> list[Expert]:
        def op() -> list[Expert]:
            if specialty is None:
                rows = self._db.conn.execute("SELECT doc FROM experts ORDER BY id")
            else:
                rows = self._db.conn.execute(
                    "SELECT e.doc FROM experts e JOIN expert_specialties s"
                    " ON s.expert_id = e.id WHERE s.specialty = ? ORDER BY e.id",
                    (specialty.value,),
                )
            return [expert_from(json.loads(r["doc"])) for r in rows]

        return await self._db.run(op)

    async def put_roster(self, roster: Roster) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if (
                conn.execute("SELECT 1 FROM experts WHERE id = ?", (roster.expert_id,)).fetchone()
                is None
            ):
                raise NotFound(f"unknown expert {roster.expert_id}", code="unknown_expert")
            conn.execute(
                "INSERT INTO rosters(expert_id, doc) VALUES (?, ?)"
                " ON CONFLICT(expert_id) DO UPDATE SET doc = excluded.doc",
                (roster.expert_id, json.dumps(roster_doc(roster))),
            )

        await self._db.transaction(op)

    async def get_roster(self, expert_id: str) -> Roster | None:
        def op() -> Roster | None:
            row = self._db.conn.execute(
                "SELECT doc FROM rosters WHERE expert_id = ?", (expert_id,)
            ).fetchone()
            return roster_from(json.loads(row["doc"])) if row else None

        return await self._db.run(op)

    async def list_rosters(self) -> list[Roster]:
        def op() -> list[Roster]:
            rows = self._db.conn.execute("SELECT doc FROM rosters ORDER BY expert_id")
            return [roster_from(json.loads(r["doc"])) for r in rows]

        return await self._db.run(op)

    async def delete_expert(self, expert_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM rosters WHERE expert_id = ?", (expert_id,))
            conn.execute("DELETE FROM expert_specialties WHERE expert_id = ?", (expert_id,))
            return conn.execute("DELETE FROM experts WHERE id = ?", (expert_id,)).rowcount > 0

        return await self._db.transaction(op)
