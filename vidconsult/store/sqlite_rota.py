"""The on-duty rota (weekly duty slots per specialty, dated overrides) in SQLite."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from vidconsult.domain.rota import DutyOverride, DutyRota, DutySlot
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import InvalidInput, NotFound
from vidconsult.store.codec import override_doc, override_from, slot_doc, slot_from
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE duty_slots (
        specialty TEXT NOT NULL,
        position INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (specialty, position)
    );
    CREATE TABLE duty_overrides (
        id TEXT PRIMARY KEY,
        specialty TEXT NOT NULL,
        end_ts INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX duty_overrides_end ON duty_overrides(end_ts);
    """,
]


class SQLiteRotaStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("rota", MIGRATIONS)

    async def replace_slots(self, specialty: Specialty, slots: Sequence[DutySlot]) -> None:
        if any(s.specialty != specialty for s in slots):
            raise InvalidInput(f"every slot must be for {specialty.value}")

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM duty_slots WHERE specialty = ?", (specialty.value,))
            conn.executemany(
                "INSERT INTO duty_slots(specialty, position, doc) VALUES (?, ?, ?)",
                [(specialty.value, i, json.dumps(slot_doc(s))) for i, s in enumerate(slots)],
            )

        await self._db.transaction(op)

    async def add_override(self, override: DutyOverride) -> str:
        override_id = f"ovr_{secrets.token_hex(6)}"
        override = replace(override, id=override_id)

        def op() -> None:
            self._db.conn.execute(
                "INSERT INTO duty_overrides(id, specialty, end_ts, doc) VALUES (?, ?, ?, ?)",
                (
                    override_id,
                    override.specialty.value,
                    int(override.end.timestamp()),
                    json.dumps(override_doc(override)),
                ),
            )

        await self._db.run(op)
        return override_id

    async def delete_override(self, override_id: str) -> None:
        def op() -> int:
            cur = self._db.conn.execute("DELETE FROM duty_overrides WHERE id = ?", (override_id,))
            return cur.rowcount

        if not await self._db.run(op):
            raise NotFound(f"unknown duty override {override_id}")

    async def get_rota(self) -> DutyRota:
        def op() -> DutyRota:
            conn = self._db.conn
            slots = [
                slot_from(json.loads(r["doc"]))
                for r in conn.execute("SELECT doc FROM duty_slots ORDER BY specialty, position")
            ]
            overrides = [
                override_from(json.loads(r["doc"]), r["id"])
                for r in conn.execute("SELECT id, doc FROM duty_overrides ORDER BY id")
            ]
            return DutyRota.of(slots, overrides)

        return await self._db.run(op)
