"""REST for recordings: starting and stopping a room's recording, its policy and consent, the
archive index, short-lived signed links for download / playback (HTTP Range), legal holds and
composite exports. ``install(app)`` wires the whole recording area into ``build_app``."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from vidconsult.config import Settings
from vidconsult.domain import recordings as domain
from vidconsult.domain.access import AccessKind
from vidconsult.domain.recordings import Recording
from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import RoomStatus
from vidconsult.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from vidconsult.services.exports import ExportService
from vidconsult.services.recordings import RecordingConfig, RecordingService
from vidconsult.services.room_routing import RoomRouter
from vidconsult.tokens import TokenClaims
from web.http import (
    claims,
    json_ok,
    parse_body,
    parse_query,
    require_coordinator,
    require_room_admin,
)
from web.keys import ACCESS_LOG, BASE_URL, CLOCK, ROOM_ROUTER, ROOMS, SETTINGS
from web.openapi import BINARY, describe
from web.recording_views import (
    ActiveRecordings,
    CaseHold,
    ExportJob,
    PolicyOut,
    RecordingEntry,
    RecordingList,
    RecordingStatusOut,
    RoomRecording,
    SignedLink,
)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
RECORDINGS = web.AppKey("recordings", RecordingService)
EXPORTS = web.AppKey("recording_exports", ExportService)
ROOM = "/api/v1/rooms/{room_id}"
CONTENT_TYPES = {".webm": "video/webm", ".mkv": "video/x-matroska", ".mp4": "video/mp4"}


class PolicyBody(BaseModel):
    enabled: bool | None = None
    consent: bool | None = None
    note: str | None = Field(default=None, max_length=2000)


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    held: bool


# an ISO date or date-time; without an offset, the centre's local time (see _date)
DateParam = Annotated[
    str | None,
    # blank is the same as absent
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"format": "date"}, {"format": "date-time"}, {"maxLength": 0}],
        }
    ),
]


class RecordingQuery(BaseModel):
    room_id: str | None = None
    case_id: str | None = None
    since: DateParam = None
    until: DateParam = None
    status: str | None = None
    limit: int = Field(default=500, ge=1, description="at most 5000 are returned")
    order: Literal["asc", "desc"] = "asc"


class PurposeQuery(BaseModel):
    purpose: Literal["play", "download"] = "play"


class LinkQuery(BaseModel):
    expires: str | None = Field(default=None, description="of the signed link")
    sig: str | None = Field(default=None, description="of the signed link")


def config_from(settings: Settings) -> RecordingConfig:
    """Settings ``recording_retention_days`` (0 = keep) and ``recording_link_ttl`` (s)."""
    return RecordingConfig(
        retention_days=settings.recording_retention_days,
        link_ttl=timedelta(seconds=settings.recording_link_ttl),
    )


def recordings_root(settings: Any) -> Path:
    return Path(settings.recording_dir or settings.data_dir / "recordings")


# authorization ------------------------------------------------------------------------------
def may_access(who: TokenClaims, rec: Recording) -> bool:
    """Coordinators; the doctor or expert of the recording's room or case."""
    if who.is_coordinator:
        return True
    if who.role not in (Role.DOCTOR, Role.EXPERT):
        return False
    return who.room == rec.room_id or (rec.case_id is not None and who.case == rec.case_id)


async def _authorized(request: web.Request) -> Recording:
    who = claims(request)
    rec = await request.app[RECORDINGS].get(request.match_info["recording_id"])
    if not may_access(who, rec):
        raise PermissionDenied("not allowed to access this recording", code="recording_forbidden")
    return rec


# rooms ------------------------------------------------------------------------------------
@routes.get(ROOM + "/recording")
@describe(
    "The room's recording: active session, its files, policy, last error",
    response=RecordingStatusOut,
    errors=(404,),
)
async def recording_status(request: web.Request) -> web.Response:
    who = claims(request)
    room_id = request.match_info["room_id"]
    if not who.is_coordinator:
        who.require_room(room_id)
    service = request.app[RECORDINGS]
    # the session and its files are the room's node's
    status = await request.app[ROOM_ROUTER].command(room_id, "recording.status", {})
    if not (who.is_coordinator or who.grants.admin):
        # everyone in the room may know whether it is recorded; the files (identities, roles,
        # sizes, hashes), the session and the policy are for whoever runs the room
        return json_ok(
            {
                "room_id": room_id,
                "active": status["active"],
                "error": status["error"],
                "error_code": status.get("error_code"),
            }
        )
    policy = await service.policy(room_id)
    return json_ok({**status, "policy": PolicyOut.of(policy).model_dump(mode="json")})


@routes.get("/api/v1/recording/active")
@describe(
    "Every room recording now, and rooms whose recording stopped on an error (coordinator)",
    response=ActiveRecordings,
)
async def active_recordings(request: web.Request) -> web.Response:
    """Every room recording now (and rooms whose recording stopped on an error): what the
    live rooms view shows in one request per refresh."""
    require_coordinator(request)
    found = {status["room_id"]: status for status in request.app[RECORDINGS].statuses()}
    # several nodes: each open room's recording is its node's (one request per other node)
    open_rooms = await request.app[ROOMS].list_rooms(RoomStatus.OPEN)
    elsewhere = await request.app[ROOM_ROUTER].command_elsewhere(
        [room.id for room in open_rooms], "recording.status", {}
    )
    for room_id, status in elsewhere.items():
        found.pop(room_id, None)  # this node's word on a room now elsewhere is stale
        if status.get("active") or status.get("error"):
            found[room_id] = status
    return json_ok({"rooms": [found[room_id] for room_id in sorted(found)]})


@routes.post(ROOM + "/recording/start")
@describe(
    "Start recording the room (coordinator or room admin)",
    response=RoomRecording,
    errors=(404, 409, 503),
)
async def start(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    who = require_room_admin(request, room_id)
    # recorded where the room's media is: on its node
    started = await request.app[ROOM_ROUTER].command(
        room_id, "recording.start", {"by": who.identity}
    )
    return json_ok(started)


@routes.post(ROOM + "/recording/stop")
@describe(
    "Stop recording the room (coordinator or room admin)", response=RoomRecording, errors=(404, 409)
)
async def stop(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    who = require_room_admin(request, room_id)
    stopped = await request.app[ROOM_ROUTER].command(
        room_id, "recording.stop", {"by": who.identity}
    )
    return json_ok(stopped)


@routes.put(ROOM + "/recording/policy")
@describe(
    "Set whether the room records and the patient's consent",
    body=PolicyBody,
    response=PolicyOut,
    errors=(404, 409),
)
async def set_policy(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    who = require_room_admin(request, room_id)
    body = await parse_body(request, PolicyBody)
    # set on the room's node: a policy that forbids recording stops the recording there
    await request.app[ROOM_ROUTER].command(
        room_id,
        "recording.policy",
        {**body.model_dump(), "by": who.identity},
    )
    policy = await request.app[RECORDINGS].policy(room_id)
    return json_ok(PolicyOut.of(policy).model_dump(mode="json"))


# the archive ----------------------------------------------------------------------------------
def _date(value: str | None, name: str, zone: str) -> datetime | None:
    """An ISO date or date-time, in UTC (the index stores UTC and compares it as text). One
    without an offset ("2026-11-26") is the centre's local time, as the dashboard shows it."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date or date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(UTC)


def _view(rec: Recording, held_cases: set[str]) -> dict[str, Any]:
    """The index entry, plus ``case_hold``: its case is on legal hold (retention keeps it)."""
    return {**rec.to_dict(), "case_hold": rec.case_id is not None and rec.case_id in held_cases}


@routes.get("/api/v1/recordings")
@describe(
    "The archive index; each entry says case_hold", query=RecordingQuery, response=RecordingList
)
async def list_recordings(request: web.Request) -> web.Response:
    who = claims(request)
    q = parse_query(request, RecordingQuery)
    room_id, case_id = q.room_id, q.case_id
    if not who.is_coordinator:
        if who.role not in (Role.DOCTOR, Role.EXPERT):
            raise PermissionDenied("not allowed to list recordings")
        if case_id is None and room_id is None:
            room_id = who.room
    limit = min(q.limit, 5000)
    store = request.app[RECORDINGS].store
    zone = request.app[SETTINGS].centre_time_zone
    found = await store.list_recordings(
        room_id=room_id,
        case_id=case_id,
        since=_date(q.since, "since", zone),
        until=_date(q.until, "until", zone),
        status=q.status,
        limit=limit,
        newest_first=q.order == "desc",
    )
    held = await store.held_cases()
    shown = [r for r in found if may_access(who, r)]
    names = await _room_names(request, {r.room_id for r in shown})
    return json_ok(
        {"recordings": [{**_view(r, held), "room_name": names.get(r.room_id)} for r in shown]}
    )


async def _room_names(request: web.Request, room_ids: set[str]) -> dict[str, str]:
    """The rooms' names, so a list of recordings can be shown without fetching every room
    (a room no longer in the store has none)."""
    rooms = request.app[ROOMS]
    names: dict[str, str] = {}
    for room_id in room_ids:
        with contextlib.suppress(NotFound):
            names[room_id] = (await rooms.get_room(room_id)).name
    return names


@routes.get("/api/v1/recordings/{recording_id}")
@describe("One recording's index entry", response=RecordingEntry, errors=(404,))
async def get_recording(request: web.Request) -> web.Response:
    rec = await _authorized(request)
    return json_ok(_view(rec, await request.app[RECORDINGS].store.held_cases()))


@routes.get("/api/v1/recordings/{recording_id}/link")
@describe(
    "A short-lived signed link {url, expires_at}; its purpose goes on the case's audit trail",
    query=PurposeQuery,
    response=SignedLink,
    errors=(404,),
)
async def link(request: web.Request) -> web.Response:
    """``?purpose=play`` (the default) or ``download``: what the link is for, on the trail."""
    rec = await _authorized(request)
    purpose = parse_query(request, PurposeQuery).purpose
    await request.app[ACCESS_LOG].recording(claims(request), rec, _PURPOSES[purpose])
    return json_ok(signed_link(request, "recordings", rec.id))


_PURPOSES = {"play": AccessKind.RECORDING_PLAY, "download": AccessKind.RECORDING_DOWNLOAD}


def signed_link(request: web.Request, collection: str, item_id: str) -> dict[str, Any]:
    service = request.app[RECORDINGS]
    now = request.app[CLOCK].now()
    expires = int((now + service.config.link_ttl).timestamp())
    signature = domain.link_signature(service.archive_key, f"{collection}/{item_id}", expires)
    url = f"{request.app[BASE_URL][0]}/api/v1/{collection}/{item_id}/content?" + urlencode(
        {"expires": expires, "sig": signature}
    )
    return {"url": url, "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()}


def _check_link(request: web.Request, collection: str, item_id: str) -> None:
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        raise Unauthenticated("a signed link is required", code="link_invalid") from None
    if not domain.link_valid(
        request.app[RECORDINGS].archive_key,
        f"{collection}/{item_id}",
        expires,
        request.query.get("sig", ""),
        now=request.app[CLOCK].now(),
    ):
        raise Unauthenticated("the link is invalid or has expired", code="link_invalid")


def _file_response(path: Path, name: str) -> web.FileResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/api/v1/recordings/{recording_id}/content")
@describe(
    "The file (signed link; HTTP Range supported)",
    auth="none",
    query=LinkQuery,
    response=BINARY,
    media_type="video/mp4",
    errors=(401, 404, 416),
)
async def content(request: web.Request) -> web.StreamResponse:
    """Download or play (HTTP Range) through a signed link from ``/link``."""
    recording_id = request.match_info["recording_id"]
    _check_link(request, "recordings", recording_id)
    service = request.app[RECORDINGS]
    rec = await service.get(recording_id)
    if rec.status is domain.RecordingStatus.DELETED:
        raise NotFound("the recording was deleted by retention", code="recording_deleted")
    try:
        path = service.archive.resolve(rec.path)
    except ValueError:
        raise NotFound("recording file not found") from None
    if not path.is_file():
        raise NotFound("recording file not found", code="recording_file_missing")
    return _file_response(path, path.name)


@routes.put("/api/v1/recordings/{recording_id}/hold")
@describe("Legal hold of one recording", body=HoldBody, response=RecordingEntry, errors=(404,))
async def hold_recording(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, HoldBody)
    service = request.app[RECORDINGS]
    await service.set_hold(
        by=who.identity, held=body.held, recording_id=request.match_info["recording_id"]
    )
    rec = await service.get(request.match_info["recording_id"])
    return json_ok(_view(rec, await service.store.held_cases()))


@routes.get("/api/v1/cases/{case_id}/recording-hold")
@describe("Whether the case's recordings are on legal hold", response=CaseHold)
async def case_hold(request: web.Request) -> web.Response:
    require_coordinator(request)
    case_id = request.match_info["case_id"]
    held = await request.app[RECORDINGS].case_held(case_id)
    return json_ok(CaseHold(case_id=case_id, held=held).model_dump(mode="json"))


@routes.put("/api/v1/cases/{case_id}/recording-hold")
@describe("Legal hold on every recording of a case", body=HoldBody, response=CaseHold)
async def hold_case(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, HoldBody)
    case_id = request.match_info["case_id"]
    await request.app[RECORDINGS].set_hold(by=who.identity, held=body.held, case_id=case_id)
    return json_ok(CaseHold(case_id=case_id, held=body.held).model_dump(mode="json"))


# composite exports ----------------------------------------------------------------------------
@routes.post(ROOM + "/exports")
@describe(
    "Start a composite MP4 export of the room's recordings",
    status=202,
    response=ExportJob,
    errors=(404, 409),
)
async def create_export(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    job = await request.app[EXPORTS].start(request.match_info["room_id"], by=who.identity)
    room = await request.app[ROOMS].get_room(job["room_id"])
    await request.app[ACCESS_LOG].export(who, job, room.case_id, AccessKind.RECORDING_EXPORT)
    return json_ok(job, status=202)


@routes.get("/api/v1/exports/{job_id}")
@describe("Export job status {status, progress, speed}", response=ExportJob, errors=(404,))
async def export_status(request: web.Request) -> web.Response:
    require_coordinator(request)
    return json_ok(await request.app[EXPORTS].get(request.match_info["job_id"]))


@routes.get("/api/v1/exports/{job_id}/link")
@describe("Signed link to the finished MP4", response=SignedLink, errors=(404, 409))
async def export_link(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    job = await request.app[EXPORTS].get(request.match_info["job_id"])
    if job["status"] != "done":
        raise Conflict("the export is not finished", code="export_not_ready")
    room = await request.app[ROOMS].get_room(job["room_id"])
    await request.app[ACCESS_LOG].export(who, job, room.case_id, AccessKind.EXPORT_DOWNLOAD)
    return json_ok(signed_link(request, "exports", job["id"]))


@routes.get("/api/v1/exports/{job_id}/content")
@describe(
    "The MP4 (signed link)",
    auth="none",
    query=LinkQuery,
    response=BINARY,
    media_type="video/mp4",
    errors=(401, 404, 416),
)
async def export_content(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["job_id"]
    _check_link(request, "exports", job_id)
    job = await request.app[EXPORTS].get(job_id)
    path = request.app[EXPORTS].output_path(job)
    if job["status"] != "done" or not path.is_file():
        raise NotFound("export file not found")
    return _file_response(path, path.name)


class _NoPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def add_room_commands(router: RoomRouter, service: RecordingService) -> None:
    """What the REST routes above ask of the room's node (``RoomRouter.command``): the
    recording is made where the room's media is."""

    async def start(room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        return await service.start(room_id, by=str(args["by"]))

    async def stop(room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        return await service.stop(room_id, by=str(args["by"]))

    async def status(room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        return service.status(room_id)

    async def policy(room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        body = PolicyBody.model_validate({k: v for k, v in args.items() if k != "by"})
        await service.set_policy(
            room_id,
            enabled=body.enabled,
            consent=body.consent,
            note=body.note,
            by=str(args["by"]),
        )
        return {}

    router.on("recording.start", start)
    router.on("recording.stop", stop)
    router.on("recording.status", status)
    router.on("recording.policy", policy)


def add_room_requests(signaling: Any, service: RecordingService) -> None:
    """``recording.start`` / ``recording.stop`` from a room admin, over signaling."""

    async def start(claims: TokenClaims, room_id: str, _: _NoPayload) -> dict[str, Any]:
        if not claims.grants.admin:
            raise PermissionDenied("only a room admin may start recording")
        return await service.start(room_id, by=claims.identity)

    async def stop(claims: TokenClaims, room_id: str, _: _NoPayload) -> dict[str, Any]:
        if not claims.grants.admin:
            raise PermissionDenied("only a room admin may stop recording")
        return await service.stop(room_id, by=claims.identity)

    signaling.add_request("recording.start", _NoPayload, start)
    signaling.add_request("recording.stop", _NoPayload, stop)
