"""Rooms, case records (attachments, chat), the access log and the token revocation list on
PostgreSQL; the same contracts as ``sqlite_rooms``, ``sqlite_records``, ``sqlite_access`` and
``sqlite_revocations``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.access import AccessEntry
from vidconsult.domain.records import Attachment, ChatMessage
from vidconsult.domain.revocations import Revocation, RevocationKind
from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import ChatLine, Room, RoomStatus
from vidconsult.errors import Conflict
from vidconsult.store.base_records import CaseChatMessage
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.rows import RowMap

ROOMS = RowMap(Room, t.rooms)
CHAT_LINES = RowMap(ChatLine, t.room_chat)
ATTACHMENTS = RowMap(Attachment, t.attachments)
ACCESS = RowMap(AccessEntry, t.access_log)


class PgRoomStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_room(self, room: Room) -> None:
        await self._db.insert_new(
            insert(t.rooms).values(ROOMS.values(room)),
            lambda: Conflict(f"room {room.id} exists", code="room_exists"),
        )

    async def get_room(self, room_id: str) -> Room | None:
        return await self._db.first(select(t.rooms).where(t.rooms.c.id == room_id), ROOMS.load)

    async def list_rooms(self, status: RoomStatus | None = None, limit: int = 500) -> list[Room]:
        stmt = select(t.rooms).order_by(t.rooms.c.created_at.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(t.rooms.c.status == status.value)
        return await self._db.every(stmt, ROOMS.load)

    async def save_room(self, room: Room) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.rooms)
                .where(t.rooms.c.id == room.id)
                .values(
                    ROOMS.values(
                        room, "name", "status", "ended_at", "end_reason", "max_video_kbps", "lobby"
                    )
                )
            )

    async def add_admitted(self, room_id: str, identity: str, at: datetime) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                insert(t.room_admitted)
                .values(room_id=room_id, identity=identity, admitted_at=at)
                .on_conflict_do_nothing()
            )

    async def admitted(self, room_id: str) -> set[str]:
        c = t.room_admitted.c
        stmt = select(c.identity).where(c.room_id == room_id)
        return set(await self._db.every(stmt, lambda row: str(row.identity)))

    async def add_chat_line(self, room_id: str, line: ChatLine, keep: int) -> None:
        c = t.room_chat.c
        oldest_kept = (
            select(c.seq)
            .where(c.room_id == room_id)
            .order_by(c.seq.desc())
            .limit(1)
            .offset(keep)
            .scalar_subquery()
        )
        async with self._db.begin() as conn:
            await conn.execute(
                insert(t.room_chat)
                .values(
                    id=line.id,
                    room_id=room_id,
                    identity=line.identity,
                    name=line.name,
                    text=line.text,
                    sent_at=line.sent_at,
                )
                .on_conflict_do_nothing(index_elements=[c.id])
            )
            await conn.execute(
                delete(t.room_chat).where(c.room_id == room_id, c.seq <= oldest_kept)
            )

    async def chat_lines(self, room_id: str) -> list[ChatLine]:
        c = t.room_chat.c
        stmt = select(t.room_chat).where(c.room_id == room_id).order_by(c.seq)
        return await self._db.every(stmt, CHAT_LINES.load)

    async def set_hand(self, room_id: str, identity: str, raised_at: datetime | None) -> None:
        c = t.room_hands.c
        async with self._db.begin() as conn:
            if raised_at is None:
                await conn.execute(
                    delete(t.room_hands).where(c.room_id == room_id, c.identity == identity)
                )
                return
            await conn.execute(
                insert(t.room_hands)
                .values(room_id=room_id, identity=identity, raised_at=raised_at)
                .on_conflict_do_nothing()
            )

    async def hands(self, room_id: str) -> list[tuple[str, datetime]]:
        c = t.room_hands.c
        stmt = (
            select(c.identity, c.raised_at).where(c.room_id == room_id).order_by(c.raised_at, c.seq)
        )
        return await self._db.every(stmt, lambda row: (str(row.identity), row.raised_at))

    async def forget_live(self, room_id: str) -> None:
        async with self._db.begin() as conn:
            await conn.execute(delete(t.room_admitted).where(t.room_admitted.c.room_id == room_id))
            await conn.execute(delete(t.room_hands).where(t.room_hands.c.room_id == room_id))
            await conn.execute(delete(t.room_chat).where(t.room_chat.c.room_id == room_id))


class PgRecordStore:
    """Implements AttachmentStore and ChatStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_attachment(self, attachment: Attachment) -> None:
        await self._db.insert_new(
            insert(t.attachments).values(ATTACHMENTS.values(attachment)),
            lambda: Conflict(f"attachment {attachment.id} exists", code="attachment_exists"),
        )

    async def get_attachment(self, attachment_id: str) -> Attachment | None:
        stmt = select(t.attachments).where(t.attachments.c.id == attachment_id)
        return await self._db.first(stmt, ATTACHMENTS.load)

    async def list_attachments(self, case_id: str) -> list[Attachment]:
        c = t.attachments.c
        stmt = select(t.attachments).where(c.case_id == case_id).order_by(c.uploaded_at, c.id)
        return await self._db.every(stmt, ATTACHMENTS.load)

    async def case_bytes(self, case_id: str) -> int:
        return await self._total(t.attachments.c.case_id == case_id)

    async def token_bytes(self, token_id: str) -> int:
        return await self._total(t.attachments.c.uploaded_with == token_id)

    async def _total(self, condition: Any) -> int:
        stmt = select(func.coalesce(func.sum(t.attachments.c.size_bytes), 0)).where(condition)
        async with self._db.begin() as conn:
            return int(await conn.scalar(stmt) or 0)

    async def add_chat_message(self, entry: CaseChatMessage) -> None:
        m = entry.message
        async with self._db.begin() as conn:
            await conn.execute(
                insert(t.case_chat)
                .values(
                    id=entry.id,
                    case_id=entry.case_id,
                    room_id=m.room_id,
                    sender=m.sender,
                    sender_name=entry.sender_name,
                    sender_role=m.sender_role.value,
                    text=m.text,
                    sent_at=m.sent_at,
                )
                .on_conflict_do_nothing(index_elements=[t.case_chat.c.id])
            )

    async def list_chat_messages(self, case_id: str, limit: int = 1000) -> list[CaseChatMessage]:
        c = t.case_chat.c
        stmt = select(t.case_chat).where(c.case_id == case_id).order_by(c.seq.desc()).limit(limit)
        return list(reversed(await self._db.every(stmt, _chat)))


def _chat(row: Any) -> CaseChatMessage:
    return CaseChatMessage(
        id=row.id,
        case_id=row.case_id,
        sender_name=row.sender_name,
        message=ChatMessage(
            room_id=row.room_id,
            sender=row.sender,
            sender_role=Role(row.sender_role),
            text=row.text,
            sent_at=row.sent_at,
        ),
    )


class PgAccessLogStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_access(self, entry: AccessEntry) -> None:
        async with self._db.begin() as conn:
            await conn.execute(insert(t.access_log).values(ACCESS.values(entry)))

    async def list_access(
        self, *, case_id: str | None = None, room_id: str | None = None, limit: int = 1000
    ) -> list[AccessEntry]:
        c = t.access_log.c
        either: list[Any] = []
        if case_id is not None:
            either.append(c.case_id == case_id)
        if room_id is not None:
            either.append(c.room_id == room_id)
        if not either:
            return []
        stmt = select(t.access_log).where(or_(*either)).order_by(c.seq.desc()).limit(limit)
        return list(reversed(await self._db.every(stmt, ACCESS.load)))


class PgRevocationStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_revocation(self, entry: Revocation) -> None:
        stmt = insert(t.token_revocations).values(
            kind=entry.kind.value,
            key=entry.key,
            revoked_at=entry.revoked_at,
            expires_at=entry.expires_at,
            reason=entry.reason,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.token_revocations.c.kind, t.token_revocations.c.key],
            set_={
                "revoked_at": stmt.excluded.revoked_at,
                "expires_at": stmt.excluded.expires_at,
                "reason": stmt.excluded.reason,
            },
            where=stmt.excluded.revoked_at >= t.token_revocations.c.revoked_at,
        )
        async with self._db.begin() as conn:
            await conn.execute(stmt)

    async def live_revocations(self, now: datetime) -> list[Revocation]:
        c = t.token_revocations.c
        async with self._db.begin() as conn:
            await conn.execute(delete(t.token_revocations).where(c.expires_at <= now))
            rows = (await conn.execute(select(t.token_revocations).order_by(c.revoked_at))).all()
        return [
            Revocation(RevocationKind(r.kind), r.key, r.revoked_at, r.expires_at, r.reason)
            for r in rows
        ]
