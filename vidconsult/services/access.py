"""The access log: every playback link, download and export of a recording and every view and
download of an attachment is recorded (who, role, when, what), for the case's audit trail.

Kept apart from the case's own trail (status changes): a read must never contend with a case's
optimistic-concurrency revision (a playback click forcing a report submission to retry) nor
need the case to exist, and a recording of a room without a case has no case trail to land on.
Entries carry the room as well, so a room's log (``of_room``) shows those too."""

from __future__ import annotations

import logging
from typing import Any

from vidconsult.domain.access import AccessEntry, AccessKind
from vidconsult.domain.recordings import Recording
from vidconsult.domain.records import Attachment
from vidconsult.ports import Clock
from vidconsult.store.base_access import AccessLogStore
from vidconsult.tokens import TokenClaims

log = logging.getLogger(__name__)


class AccessLog:
    def __init__(self, *, store: AccessLogStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record(
        self,
        actor: str,
        role: str,
        action: AccessKind,
        subject: str,
        *,
        case_id: str | None,
        room_id: str | None,
        note: str = "",
    ) -> AccessEntry:
        entry = AccessEntry(
            self._clock.now(), actor, role, action, subject, case_id, room_id, note[:300]
        )
        await self._store.add_access(entry)
        log.info(
            "medical data accessed action=%s subject=%s case=%s room=%s actor=%s role=%s",
            action.value,
            subject,
            case_id,
            room_id,
            actor,
            role,
        )
        return entry

    async def recording(self, who: TokenClaims, rec: Recording, action: AccessKind) -> None:
        await self.record(
            who.identity,
            who.role.value,
            action,
            rec.id,
            case_id=rec.case_id,
            room_id=rec.room_id,
            note=rec.path.rsplit("/", 1)[-1],
        )

    async def export(
        self, who: TokenClaims, job: dict[str, Any], case_id: str | None, action: AccessKind
    ) -> None:
        await self.record(
            who.identity,
            who.role.value,
            action,
            str(job["id"]),
            case_id=case_id,
            room_id=str(job["room_id"]),
        )

    async def attachment(
        self, actor: str, role: str, attachment: Attachment, action: AccessKind
    ) -> None:
        await self.record(
            actor,
            role,
            action,
            attachment.id,
            case_id=attachment.case_id,
            room_id=None,
            note=attachment.filename,
        )

    async def case(self, who: TokenClaims, case_id: str) -> None:
        await self.record(
            who.identity,
            who.role.value,
            AccessKind.CASE_VIEW,
            case_id,
            case_id=case_id,
            room_id=who.room,
            note="summary",
        )

    async def of_case(self, case_id: str) -> list[AccessEntry]:
        return await self._store.list_access(case_id=case_id)

    async def of_room(self, room_id: str) -> list[AccessEntry]:
        return await self._store.list_access(room_id=room_id)
