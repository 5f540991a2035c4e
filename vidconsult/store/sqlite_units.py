"""Member units in SQLite: a few indexed columns and the unit as a JSON document."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from vidconsult.domain.units import Unit, UnitTier
from vidconsult.store.codec import unit_doc, unit_from
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE units (
        id TEXT PRIMARY KEY,
        tier TEXT NOT NULL,
        parent_id TEXT,
        doc TEXT NOT NULL
    );
    CREATE INDEX units_tier ON units(tier);
    """,
]


class SQLiteUnitStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("units", MIGRATIONS)

    async def put_units(self, units: Sequence[Unit]) -> None:
        rows = [(u.id, u.tier.value, u.parent_id, json.dumps(unit_doc(u))) for u in units]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO units(id, tier, parent_id, doc) VALUES (?,?,?,?) ON CONFLICT(id)"
                " DO UPDATE SET tier=excluded.tier, parent_id=excluded.parent_id,"
                " doc=excluded.doc",
                rows,
            )

        await self._db.transaction(op)

    async def get_unit(self, unit_id: str) -> Unit | None:
        def op() -> Unit | None:
            row = self._db.conn.execute("SELECT doc FROM units WHERE id = ?", (unit_id,)).fetchone()
            return unit_from(json.loads(row["doc"])) if row else None

        return await self._db.run(op)

    async def list_units(self, tier: UnitTier | None = None) -> list[Unit]:
        def op() -> list[Unit]:
            if tier is None:
                rows = self._db.conn.execute("SELECT doc FROM units ORDER BY id")
            else:
                rows = self._db.conn.execute(
                    "SELECT doc FROM units WHERE tier = ? ORDER BY id", (tier.value,)
                )
            return [unit_from(json.loads(r["doc"])) for r in rows]

        return await self._db.run(op)

    async def delete_unit(self, unit_id: str) -> bool:
        def op() -> bool:
            cur = self._db.conn.execute("DELETE FROM units WHERE id = ?", (unit_id,))
            return cur.rowcount > 0

        return await self._db.run(op)
