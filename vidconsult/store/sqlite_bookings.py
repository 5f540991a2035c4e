"""Bookings, their rooms and who joined those rooms, in SQLite.

Double booking is refused inside one ``BEGIN IMMEDIATE`` transaction (the overlap check and the
insert hold SQLite's write lock together, across processes too); a partial unique index on
(expert, start) of active bookings backs it up for the exact-same-slot case."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom
from vidconsult.domain.bookings import Booking
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import Presence
from vidconsult.errors import Conflict, NotFound
from vidconsult.store.codec import booked_room_doc, booked_room_from, booking_doc, booking_from
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE bookings (
        id TEXT PRIMARY KEY,
        expert_id TEXT NOT NULL,
        start_ts REAL NOT NULL,
        end_ts REAL NOT NULL,
        active INTEGER NOT NULL,
        case_id TEXT,
        lecture_id TEXT,
        doc TEXT NOT NULL
    );
    CREATE INDEX bookings_expert ON bookings(expert_id, active, start_ts);
    CREATE INDEX bookings_start ON bookings(start_ts);
    CREATE UNIQUE INDEX bookings_no_twin ON bookings(expert_id, start_ts) WHERE active = 1;
    CREATE TABLE booked_rooms (
        booking_id TEXT PRIMARY KEY REFERENCES bookings(id),
        room_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        opens_ts REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX booked_rooms_due ON booked_rooms(state, opens_ts);
    CREATE TABLE room_presence (
        room_id TEXT NOT NULL,
        identity TEXT NOT NULL,
        role TEXT NOT NULL,
        first_ts REAL NOT NULL,
        PRIMARY KEY (room_id, identity, role)
    );
    """,
]


class SQLiteBookingStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("bookings", MIGRATIONS)

    async def add_booking(self, booking: Booking, room: BookedRoom) -> None:
        await self.add_bookings([booking], room)

    async def add_bookings(self, bookings: Sequence[Booking], room: BookedRoom) -> None:
        """A panel's bookings and their one room (kept under ``room.booking_id``, the lead's),
        all or none: any member's overlap refuses the whole panel."""
        for booking in bookings:
            if not booking.active:
                raise Conflict(f"booking {booking.id} is cancelled", code="booking_cancelled")

        def op(conn: sqlite3.Connection) -> None:
            for booking in bookings:
                self._insert(conn, booking)
            try:
                conn.execute(
                    "INSERT INTO booked_rooms(booking_id, room_id, state, opens_ts, doc)"
                    " VALUES (?,?,?,?,?)",
                    (
                        room.booking_id,
                        room.room_id,
                        room.state.value,
                        room.opens_at.timestamp(),
                        json.dumps(booked_room_doc(room)),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(
                    f"room {room.room_id} collides: {exc}", code="double_booking"
                ) from None

        await self._db.transaction(op)

    @staticmethod
    def _insert(conn: sqlite3.Connection, booking: Booking) -> None:
        start, end = booking.start.timestamp(), booking.end.timestamp()
        other = conn.execute(
            "SELECT id FROM bookings WHERE expert_id = ? AND active = 1 AND start_ts < ?"
            " AND end_ts > ? LIMIT 1",
            (booking.expert_id, end, start),
        ).fetchone()
        if other is not None:
            raise Conflict(
                f"expert {booking.expert_id} is already booked ({other['id']}) at that time",
                code="double_booking",
            )
        try:
            conn.execute(
                "INSERT INTO bookings(id, expert_id, start_ts, end_ts, active, case_id,"
                " lecture_id, doc) VALUES (?,?,?,?,1,?,?,?)",
                (
                    booking.id,
                    booking.expert_id,
                    start,
                    end,
                    booking.case_id,
                    booking.lecture_id,
                    json.dumps(booking_doc(booking)),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"booking {booking.id} collides: {exc}", code="double_booking") from None

    async def get_booking(self, booking_id: str) -> Booking | None:
        def op() -> Booking | None:
            row = self._db.conn.execute(
                "SELECT doc FROM bookings WHERE id = ?", (booking_id,)
            ).fetchone()
            return booking_from(json.loads(row["doc"])) if row else None

        return await self._db.run(op)

    async def list_bookings(
        self,
        *,
        expert_id: str | None = None,
        active: bool | None = True,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        limit: int = 1000,
    ) -> list[Booking]:
        where: list[str] = []
        args: list[Any] = []
        if expert_id is not None:
            where.append("expert_id = ?")
            args.append(expert_id)
        if active is not None:
            where.append("active = ?")
            args.append(int(active))
        if start_from is not None:
            where.append("start_ts >= ?")
            args.append(start_from.timestamp())
        if start_to is not None:
            where.append("start_ts < ?")
            args.append(start_to.timestamp())
        sql = "SELECT doc FROM bookings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_ts, id LIMIT ?"
        args.append(limit)

        def op() -> list[Booking]:
            return [booking_from(json.loads(r["doc"])) for r in self._db.conn.execute(sql, args)]

        return await self._db.run(op)

    async def cancel_booking(self, booking_id: str, at: datetime) -> Booking:
        def op(conn: sqlite3.Connection) -> Booking:
            row = conn.execute("SELECT doc FROM bookings WHERE id = ?", (booking_id,)).fetchone()
            if row is None:
                raise NotFound(f"booking {booking_id} not found")
            cancelled = booking_from(json.loads(row["doc"])).cancelled(at)
            conn.execute(
                "UPDATE bookings SET active = 0, doc = ? WHERE id = ?",
                (json.dumps(booking_doc(cancelled)), booking_id),
            )
            return cancelled

        return await self._db.transaction(op)

    async def get_room(self, booking_id: str) -> BookedRoom | None:
        """The booking's room; a panel member's is its lead's."""
        booking = await self.get_booking(booking_id)
        return await self._room_where(
            "booking_id", booking.room_booking_id if booking else booking_id
        )

    async def room_by_room_id(self, room_id: str) -> BookedRoom | None:
        return await self._room_where("room_id", room_id)

    async def _room_where(self, column: str, value: str) -> BookedRoom | None:
        def op() -> BookedRoom | None:
            row = self._db.conn.execute(
                f"SELECT doc FROM booked_rooms WHERE {column} = ?", (value,)
            ).fetchone()
            return booked_room_from(json.loads(row["doc"])) if row else None

        return await self._db.run(op)

    async def save_room(self, room: BookedRoom) -> None:
        def op() -> None:
            cur = self._db.conn.execute(
                "UPDATE booked_rooms SET state = ?, opens_ts = ?, doc = ? WHERE booking_id = ?",
                (
                    room.state.value,
                    room.opens_at.timestamp(),
                    json.dumps(booked_room_doc(room)),
                    room.booking_id,
                ),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no room for booking {room.booking_id}")

        await self._db.run(op)

    async def rooms_due(self, now: datetime) -> list[BookedRoom]:
        def op() -> list[BookedRoom]:
            rows = self._db.conn.execute(
                "SELECT doc FROM booked_rooms WHERE (state = 'scheduled' AND opens_ts <= ?)"
                " OR state = 'open' ORDER BY opens_ts, booking_id",
                (now.timestamp(),),
            )
            return [booked_room_from(json.loads(r["doc"])) for r in rows]

        return await self._db.run(op)

    async def record_presence(self, room_id: str, who: Presence, at: datetime) -> bool:
        def op() -> bool:
            cur = self._db.conn.execute(
                "INSERT OR IGNORE INTO room_presence(room_id, identity, role, first_ts)"
                " VALUES (?, ?, ?, ?)",
                (room_id, who.identity, who.role.value, at.timestamp()),
            )
            return cur.rowcount == 1

        return await self._db.run(op)

    async def presences(self, room_id: str) -> list[Presence]:
        def op() -> list[Presence]:
            rows = self._db.conn.execute(
                "SELECT identity, role FROM room_presence WHERE room_id = ?"
                " ORDER BY first_ts, rowid",
                (room_id,),
            )
            return [Presence(r["identity"], Role(r["role"])) for r in rows]

        return await self._db.run(op)
