"""The access log at the edge: its entries in the form of the case audit trail (merged into
the case view for coordinators, see web/cases_api.py) and a room's log, where the access to
recordings of a room without a case lands (``GET /api/v1/rooms/{room_id}/access-log``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from vidconsult.domain.access import AccessEntry, AccessKind
from vidconsult.domain.timeutil import utc_iso
from web.http import json_ok, require_coordinator
from web.keys import ACCESS_LOG
from web.openapi import describe

routes = web.RouteTableDef()


class AccessEntryOut(BaseModel):
    """An access entry as a row of the case audit trail (``from``/``to`` are null)."""

    at: datetime
    actor: str
    role: str
    action: AccessKind
    subject: str
    note: str
    case_id: str | None
    room_id: str | None

    @classmethod
    def of(cls, entry: AccessEntry) -> AccessEntryOut:
        return cls(
            at=entry.at,
            actor=entry.actor,
            role=entry.role,
            action=entry.action,
            subject=entry.subject,
            note=entry.note,
            case_id=entry.case_id,
            room_id=entry.room_id,
        )


class RoomAccessLog(BaseModel):
    room_id: str
    entries: list[AccessEntryOut]


def access_doc(entry: AccessEntry) -> dict[str, Any]:
    """An entry as a row of the case audit trail: ``action`` says what kind of access,
    ``subject`` what was accessed, ``role`` the token's role."""
    return {
        "at": utc_iso(entry.at),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action.value,
        "from": None,
        "to": None,
        "note": entry.note,
        "subject": entry.subject,
        "case_id": entry.case_id,
        "room_id": entry.room_id,
    }


def merged_audit(audit: list[dict[str, Any]], entries: list[AccessEntry]) -> list[dict[str, Any]]:
    """The case's trail with its access entries, in time order (a stable sort: the case's own
    entries keep their order)."""
    rows = [*audit, *(access_doc(e) for e in entries)]
    return sorted(rows, key=lambda row: datetime.fromisoformat(row["at"]))


@routes.get("/api/v1/rooms/{room_id}/access-log")
@describe(
    "Who played, downloaded or exported the room's recordings, with or without a case "
    "(coordinator); a case's entries are also on its audit trail",
    response=RoomAccessLog,
)
async def room_access_log(request: web.Request) -> web.Response:
    require_coordinator(request)
    room_id = request.match_info["room_id"]
    entries = await request.app[ACCESS_LOG].of_room(room_id)
    log = RoomAccessLog(room_id=room_id, entries=[AccessEntryOut.of(e) for e in entries])
    return json_ok(log.model_dump(mode="json"))
