"""Emergency pagings in SQLite (one JSON document per emergency case, with its revision: each
write is a compare-and-set on it, see base_paging)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from vidconsult.domain.paging import Paging
from vidconsult.domain.webhooks import Delivery
from vidconsult.store.paging_codec import paging_doc, paging_from
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_records import iso
from vidconsult.store.sqlite_webhooks import insert_deliveries

MIGRATIONS = [
    """
    CREATE TABLE pagings (
        case_id TEXT PRIMARY KEY,
        opened_at TEXT NOT NULL,
        state TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX pagings_open ON pagings(state, opened_at);
    """,
    # each write a compare-and-set on the revision (a paging kept before counts as revision 1)
    "ALTER TABLE pagings ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;",
]


def _load(row: sqlite3.Row) -> Paging:
    paging = paging_from(json.loads(row["doc"]))
    paging.revision = int(row["revision"])
    return paging


class SQLitePagingStore:
    """Implements PagingStore."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("pagings", MIGRATIONS)

    async def save_paging(self, paging: Paging, outbox: Sequence[Delivery] = ()) -> bool:
        doc = json.dumps(paging_doc(paging))
        seen = paging.revision
        deliveries = list(outbox)

        def op(conn: sqlite3.Connection) -> bool:
            if seen == 0:
                cur = conn.execute(
                    "INSERT INTO pagings(case_id, opened_at, state, doc, revision)"
                    " VALUES (?, ?, ?, ?, 1) ON CONFLICT(case_id) DO NOTHING",
                    (paging.case_id, iso(paging.opened_at), paging.state.value, doc),
                )
            else:
                cur = conn.execute(
                    "UPDATE pagings SET opened_at = ?, state = ?, doc = ?, revision = revision + 1"
                    " WHERE case_id = ? AND revision = ?",
                    (iso(paging.opened_at), paging.state.value, doc, paging.case_id, seen),
                )
            if cur.rowcount != 1:
                return False
            insert_deliveries(conn, deliveries)  # with the change, or not at all
            return True

        landed = await self._db.transaction(op)
        if landed:
            paging.revision = seen + 1
        return landed

    async def get_paging(self, case_id: str) -> Paging | None:
        def op() -> Paging | None:
            row = self._db.conn.execute(
                "SELECT doc, revision FROM pagings WHERE case_id = ?", (case_id,)
            ).fetchone()
            return None if row is None else _load(row)

        return await self._db.run(op)

    async def list_pagings(self, *, since: datetime) -> list[Paging]:
        def op() -> list[Paging]:
            rows = self._db.conn.execute(
                "SELECT doc, revision FROM pagings WHERE state = 'paging' OR opened_at >= ?"
                " ORDER BY opened_at DESC, case_id",
                (iso(since),),
            )
            return [_load(r) for r in rows]

        return await self._db.run(op)
