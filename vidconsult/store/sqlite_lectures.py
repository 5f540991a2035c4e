"""Lectures (remote education) in SQLite; the presenter's time is a booking of its own."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from vidconsult.domain.lectures import Lecture
from vidconsult.errors import Conflict
from vidconsult.store.codec import lecture_doc, lecture_from
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE lectures (
        id TEXT PRIMARY KEY,
        booking_id TEXT NOT NULL,
        start_ts REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX lectures_start ON lectures(start_ts);
    """,
    """
    CREATE TABLE lecture_questions (
        id TEXT PRIMARY KEY,
        lecture_id TEXT NOT NULL REFERENCES lectures(id),
        sent_ts REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX lecture_questions_lecture ON lecture_questions(lecture_id, sent_ts);
    """,
]


class SQLiteLectureStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("lectures", MIGRATIONS)

    async def create_lecture(self, lecture: Lecture, booking_id: str) -> None:
        def op() -> None:
            try:
                self._db.conn.execute(
                    "INSERT INTO lectures(id, booking_id, start_ts, doc) VALUES (?, ?, ?, ?)",
                    (
                        lecture.id,
                        booking_id,
                        lecture.start.timestamp(),
                        json.dumps(lecture_doc(lecture)),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"lecture {lecture.id} exists", code="lecture_exists") from None

        await self._db.run(op)

    async def get_lecture(self, lecture_id: str) -> tuple[Lecture, str] | None:
        def op() -> tuple[Lecture, str] | None:
            row = self._db.conn.execute(
                "SELECT doc, booking_id FROM lectures WHERE id = ?", (lecture_id,)
            ).fetchone()
            return (lecture_from(json.loads(row["doc"])), row["booking_id"]) if row else None

        return await self._db.run(op)

    async def list_lectures(self, start_from: datetime | None = None) -> list[Lecture]:
        def op() -> list[Lecture]:
            rows = self._db.conn.execute(
                "SELECT doc FROM lectures WHERE start_ts >= ? ORDER BY start_ts",
                (start_from.timestamp() if start_from else float("-inf"),),
            )
            return [lecture_from(json.loads(r["doc"])) for r in rows]

        return await self._db.run(op)

    async def add_question(self, lecture_id: str, question: dict[str, Any]) -> None:
        """Keep a question asked in the lecture's chat (``question["id"]`` is the message id:
        the same message twice is kept once)."""

        def op() -> None:
            self._db.conn.execute(
                "INSERT OR IGNORE INTO lecture_questions(id, lecture_id, sent_ts, doc)"
                " VALUES (?, ?, ?, ?)",
                (
                    question["id"],
                    lecture_id,
                    datetime.fromisoformat(question["sent_at"]).timestamp(),
                    json.dumps(question),
                ),
            )

        await self._db.run(op)

    async def questions(self, lecture_id: str) -> list[dict[str, Any]]:
        def op() -> list[dict[str, Any]]:
            rows = self._db.conn.execute(
                "SELECT doc FROM lecture_questions WHERE lecture_id = ? ORDER BY sent_ts, rowid",
                (lecture_id,),
            )
            return [json.loads(r["doc"]) for r in rows]

        return await self._db.run(op)
