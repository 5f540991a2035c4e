"""Webhook endpoints and the durable delivery queue in SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from vidconsult.domain.webhooks import Delivery, DeliveryStatus, Webhook
from vidconsult.errors import Conflict
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_records import iso

MIGRATIONS = [
    """
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        description TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event TEXT NOT NULL,
        event_id TEXT NOT NULL,
        body BLOB NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        next_attempt_at REAL NOT NULL,
        last_attempt_at TEXT,
        last_status INTEGER,
        last_error TEXT NOT NULL
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
    CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at)
    """,
    # a delivery that waits for another one to finish (a page's cancellation after its page)
    "ALTER TABLE webhook_deliveries ADD COLUMN after_id TEXT;",
]

# pending, and not waiting for a delivery that is itself still pending
_READY = (
    "status = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS b"
    " WHERE b.id = webhook_deliveries.after_id AND b.status = 'pending')"
)


def insert_deliveries(conn: sqlite3.Connection, deliveries: list[Delivery]) -> None:
    """Queue ``deliveries`` on ``conn`` (inside the caller's transaction: the paging store
    writes a paging change's deliveries with it). A delivery id already queued is kept as it
    is (the same event made again: once); one to an endpoint deleted meanwhile is dropped."""
    hooks = {d.webhook_id for d in deliveries}
    if not hooks:
        return
    marks = ",".join("?" * len(hooks))
    live = {r[0] for r in conn.execute(f"SELECT id FROM webhooks WHERE id IN ({marks})", [*hooks])}
    deliveries = [d for d in deliveries if d.webhook_id in live]
    conn.executemany(
        "INSERT INTO webhook_deliveries(id, webhook_id, event, event_id, body, status,"
        " attempts, created_at, next_attempt_at, last_attempt_at, last_status,"
        " last_error, after_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        [_delivery_row(d) for d in deliveries],
    )


class SQLiteWebhookStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("webhooks", MIGRATIONS)

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook

        def op() -> None:
            try:
                self._db.conn.execute(
                    "INSERT INTO webhooks(id, url, events, secret, description, created_by,"
                    " created_at) VALUES (?,?,?,?,?,?,?)",
                    (
                        w.id,
                        w.url,
                        json.dumps(list(w.events)),
                        w.secret,
                        w.description,
                        w.created_by,
                        iso(w.created_at),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"webhook {w.id} exists", code="webhook_exists") from None

        await self._db.run(op)

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        def op() -> Webhook | None:
            row = self._db.conn.execute(
                "SELECT * FROM webhooks WHERE id = ?", (webhook_id,)
            ).fetchone()
            return _webhook(row) if row else None

        return await self._db.run(op)

    async def list_webhooks(self) -> list[Webhook]:
        def op() -> list[Webhook]:
            rows = self._db.conn.execute("SELECT * FROM webhooks ORDER BY created_at, id")
            return [_webhook(r) for r in rows]

        return await self._db.run(op)

    async def delete_webhook(self, webhook_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
            return conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount > 0

        return await self._db.transaction(op)

    async def enqueue(self, deliveries: list[Delivery]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            insert_deliveries(conn, deliveries)

        if deliveries:
            await self._db.transaction(op)

    async def due_deliveries(self, now: datetime, limit: int = 50) -> list[Delivery]:
        def op() -> list[Delivery]:
            rows = self._db.conn.execute(
                f"SELECT * FROM webhook_deliveries WHERE {_READY} AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, created_at, rowid LIMIT ?",
                (now.timestamp(), limit),
            )
            return [_delivery(r) for r in rows]

        return await self._db.run(op)

    async def next_due_at(self) -> datetime | None:
        def op() -> datetime | None:
            row = self._db.conn.execute(
                f"SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE {_READY}"
            ).fetchone()
            return None if row[0] is None else datetime.fromtimestamp(row[0], UTC)

        return await self._db.run(op)

    async def save_delivery(self, delivery: Delivery) -> None:
        d = delivery

        def op() -> None:
            self._db.conn.execute(
                "UPDATE webhook_deliveries SET status=?, attempts=?, next_attempt_at=?,"
                " last_attempt_at=?, last_status=?, last_error=? WHERE id=?",
                (
                    d.status.value,
                    d.attempts,
                    d.next_attempt_at.timestamp(),
                    iso(d.last_attempt_at) if d.last_attempt_at else None,
                    d.last_status,
                    d.last_error,
                    d.id,
                ),
            )

        await self._db.run(op)

    async def list_deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        def op() -> list[Delivery]:
            rows = self._db.conn.execute(
                "SELECT * FROM webhook_deliveries WHERE webhook_id = ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (webhook_id, limit),
            )
            return [_delivery(r) for r in rows]

        return await self._db.run(op)


def _webhook(row: sqlite3.Row) -> Webhook:
    return Webhook(
        id=row["id"],
        url=row["url"],
        events=tuple(json.loads(row["events"])),
        secret=row["secret"],
        description=row["description"],
        created_by=row["created_by"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _delivery_row(d: Delivery) -> tuple[object, ...]:
    return (
        d.id,
        d.webhook_id,
        d.event,
        d.event_id,
        d.body,
        d.status.value,
        d.attempts,
        iso(d.created_at),
        d.next_attempt_at.timestamp(),
        iso(d.last_attempt_at) if d.last_attempt_at else None,
        d.last_status,
        d.last_error,
        d.after_id,
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event=row["event"],
        event_id=row["event_id"],
        body=bytes(row["body"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        next_attempt_at=datetime.fromtimestamp(row["next_attempt_at"], UTC),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_attempt_at=datetime.fromisoformat(row["last_attempt_at"])
        if row["last_attempt_at"]
        else None,
        last_status=row["last_status"],
        last_error=row["last_error"],
        after_id=row["after_id"],
    )
