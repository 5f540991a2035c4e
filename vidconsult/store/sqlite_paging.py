"""Emergency pagings in SQLite (one JSON document per emergency case)."""

from __future__ import annotations

import json
from datetime import datetime

from vidconsult.domain.paging import Paging
from vidconsult.store.paging_codec import paging_doc, paging_from
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_records import iso

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
]


class SQLitePagingStore:
    """Implements PagingStore."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("pagings", MIGRATIONS)

    async def save_paging(self, paging: Paging) -> None:
        doc = json.dumps(paging_doc(paging))

        def op() -> None:
            self._db.conn.execute(
                "INSERT INTO pagings(case_id, opened_at, state, doc) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(case_id) DO UPDATE SET opened_at = excluded.opened_at,"
                " state = excluded.state, doc = excluded.doc",
                (paging.case_id, iso(paging.opened_at), paging.state.value, doc),
            )

        await self._db.run(op)

    async def list_pagings(self, *, since: datetime) -> list[Paging]:
        def op() -> list[Paging]:
            rows = self._db.conn.execute(
                "SELECT doc FROM pagings WHERE state = 'paging' OR opened_at >= ?"
                " ORDER BY opened_at DESC, case_id",
                (iso(since),),
            )
            return [paging_from(json.loads(r["doc"])) for r in rows]

        return await self._db.run(op)
