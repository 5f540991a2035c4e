"""The access log at the edge: its entries in the form of the case audit trail (merged into
the case view for coordinators, see web/cases_api.py) and a room's log, where the access to
recordings of a room without a case lands (``GET /api/v1/rooms/{room_id}/access-log``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from vidconsult.domain.access import AccessEntry
from web import openapi
from web.http import json_ok, require_coordinator
from web.keys import ACCESS_LOG

routes = web.RouteTableDef()


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    openapi.add_paths(app[openapi.OPENAPI], OPENAPI_PATHS)


def access_doc(entry: AccessEntry) -> dict[str, Any]:
    """An entry as a row of the case audit trail: ``action`` says what kind of access,
    ``subject`` what was accessed, ``role`` the token's role."""
    return {
        "at": entry.at.isoformat(),
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
async def room_access_log(request: web.Request) -> web.Response:
    require_coordinator(request)
    room_id = request.match_info["room_id"]
    entries = await request.app[ACCESS_LOG].of_room(room_id)
    return json_ok({"room_id": room_id, "entries": [access_doc(e) for e in entries]})


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/access-log": {
        "parameters": [openapi.ROOM_ID],
        "get": {
            "summary": "Who played, downloaded or exported the room's recordings, with or "
            "without a case (coordinator); a case's entries are also on its audit trail",
            "responses": {
                "200": openapi.ok("entries", {"type": "object"}),
                **openapi.errors(401, 403),
            },
        },
    },
}
