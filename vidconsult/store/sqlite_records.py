"""Case records in SQLite: attachment metadata and the chat kept with a case.

Cases belong to another area, so rows are keyed by ``case_id`` without a foreign key."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from vidconsult.domain.records import Attachment, ChatMessage
from vidconsult.domain.roles import Role
from vidconsult.errors import Conflict
from vidconsult.store.base_records import CaseChatMessage
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE attachments (
        id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT,
        uploaded_by TEXT NOT NULL,
        uploaded_at TEXT NOT NULL
    );
    CREATE INDEX attachments_case ON attachments(case_id, uploaded_at);
    CREATE TABLE case_chat (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        case_id TEXT NOT NULL,
        room_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        sender_name TEXT NOT NULL,
        sender_role TEXT NOT NULL,
        text TEXT NOT NULL,
        sent_at TEXT NOT NULL
    );
    CREATE INDEX case_chat_case ON case_chat(case_id, seq);
    """,
    """
    ALTER TABLE attachments ADD COLUMN uploaded_with TEXT;
    CREATE INDEX attachments_token ON attachments(uploaded_with);
    """,
]


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class SQLiteRecordStore:
    """Implements AttachmentStore and ChatStore."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("records", MIGRATIONS)

    async def add_attachment(self, attachment: Attachment) -> None:
        a = attachment

        def op() -> None:
            try:
                self._db.conn.execute(
                    "INSERT INTO attachments(id, case_id, filename, content_type, size_bytes,"
                    " sha256, uploaded_by, uploaded_at, uploaded_with) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        a.id,
                        a.case_id,
                        a.filename,
                        a.content_type,
                        a.size_bytes,
                        a.sha256,
                        a.uploaded_by,
                        iso(a.uploaded_at),
                        a.uploaded_with,
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"attachment {a.id} exists", code="attachment_exists") from None

        await self._db.run(op)

    async def get_attachment(self, attachment_id: str) -> Attachment | None:
        def op() -> Attachment | None:
            row = self._db.conn.execute(
                "SELECT * FROM attachments WHERE id = ?", (attachment_id,)
            ).fetchone()
            return _attachment(row) if row else None

        return await self._db.run(op)

    async def list_attachments(self, case_id: str) -> list[Attachment]:
        def op() -> list[Attachment]:
            rows = self._db.conn.execute(
                "SELECT * FROM attachments WHERE case_id = ? ORDER BY uploaded_at, id", (case_id,)
            )
            return [_attachment(r) for r in rows]

        return await self._db.run(op)

    async def case_bytes(self, case_id: str) -> int:
        return await self._total("case_id", case_id)

    async def token_bytes(self, token_id: str) -> int:
        return await self._total("uploaded_with", token_id)

    async def _total(self, column: str, value: str) -> int:
        assert column in ("case_id", "uploaded_with")

        def op() -> int:
            row = self._db.conn.execute(
                f"SELECT COALESCE(SUM(size_bytes), 0) FROM attachments WHERE {column} = ?",
                (value,),
            ).fetchone()
            return int(row[0])

        return await self._db.run(op)

    async def add_chat_message(self, entry: CaseChatMessage) -> None:
        m = entry.message

        def op() -> None:
            self._db.conn.execute(
                "INSERT OR IGNORE INTO case_chat(id, case_id, room_id, sender, sender_name,"
                " sender_role, text, sent_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    entry.id,
                    entry.case_id,
                    m.room_id,
                    m.sender,
                    entry.sender_name,
                    m.sender_role.value,
                    m.text,
                    iso(m.sent_at),
                ),
            )

        await self._db.run(op)

    async def list_chat_messages(self, case_id: str, limit: int = 1000) -> list[CaseChatMessage]:
        def op() -> list[CaseChatMessage]:
            rows = self._db.conn.execute(
                "SELECT * FROM (SELECT * FROM case_chat WHERE case_id = ? ORDER BY seq DESC"
                " LIMIT ?) ORDER BY seq",
                (case_id, limit),
            )
            return [_chat(r) for r in rows]

        return await self._db.run(op)


def _attachment(row: sqlite3.Row) -> Attachment:
    return Attachment(
        id=row["id"],
        case_id=row["case_id"],
        filename=row["filename"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=datetime.fromisoformat(row["uploaded_at"]),
        sha256=row["sha256"],
        uploaded_with=row["uploaded_with"],
    )


def _chat(row: sqlite3.Row) -> CaseChatMessage:
    return CaseChatMessage(
        id=row["id"],
        case_id=row["case_id"],
        sender_name=row["sender_name"],
        message=ChatMessage(
            room_id=row["room_id"],
            sender=row["sender"],
            sender_role=Role(row["sender_role"]),
            text=row["text"],
            sent_at=datetime.fromisoformat(row["sent_at"]),
        ),
    )
