"""REST handlers for case records: attachments (``/api/v1/cases/{case_id}/attachments``) and
the chat kept with a case (``/api/v1/cases/{case_id}/chat``).

Upload: the raw file is the request body, its type in ``Content-Type`` and its name in the
``filename`` query parameter. The body streams to disk (never held in memory) and is refused
past the size limit or a quota of the case or the token (413), when its first bytes contradict
its type (415), or when it arrives too slowly (408). Uploads are rate-limited (429)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import BaseModel, Field

from vidconsult.config import Settings
from vidconsult.domain.access import AccessKind
from vidconsult.domain.records import (
    ALLOWED_CONTENT_TYPES,
    MAX_FILENAME,
    Attachment,
)
from vidconsult.domain.roles import Role
from vidconsult.errors import InvalidInput, NotFound, PermissionDenied
from vidconsult.services.records import RecordsConfig, RecordService, authorize
from vidconsult.tokens import TokenClaims
from web import record_views as views
from web.guards import limit, paced, streams_body
from web.http import claims, json_ok, parse_query
from web.keys import ACCESS_LOG, BASE_URL, ROOM_ROUTER, SETTINGS
from web.openapi import BINARY, describe
from web.scope import scope_of
from web.workflow_keys import CASES

routes = web.RouteTableDef()
RECORDS = web.AppKey("records", RecordService)
CHUNK = 64 * 1024
PREFIX = "/api/v1/cases/{case_id}"


CASE_PATH = {"case_id": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,64}$"}}
_WHO = " Coordinator, or a room token bound to this case (claim `case`)."


class UploadQuery(BaseModel):
    # what the domain checks (validate_filename: invalid_input), stated for the document
    filename: str = Field(
        min_length=1,
        json_schema_extra={"maxLength": MAX_FILENAME, "pattern": r"^[^/\\\x00-\x1f\x7f]+$"},
    )


class LinkQuery(BaseModel):
    expires: str | None = Field(default=None, description="of a signed link")
    signature: str | None = Field(default=None, description="of a signed link")


def config_from(settings: Settings) -> RecordsConfig:
    """Settings ``max_attachment_bytes``, ``attachment_link_ttl`` (seconds) and the quotas."""
    return RecordsConfig(
        max_attachment_bytes=settings.max_attachment_bytes,
        link_ttl=timedelta(seconds=settings.attachment_link_ttl),
        case_quota_bytes=settings.case_quota_bytes,
        token_quota_bytes=settings.token_quota_bytes,
    )


async def authorize_party(
    request: web.Request, who: TokenClaims, case_id: str, *, write: bool = False
) -> None:
    """As :func:`authorize`, and also a signed-in expert of the case or its unit's doctor
    (their room-less login token; the case decides)."""
    if who.room is None and who.role in (Role.EXPERT, Role.DOCTOR):
        scope = await scope_of(request)
        try:
            case = await request.app[CASES].get(case_id)
        except NotFound:  # records of a case the workflow does not know: not theirs either
            raise PermissionDenied(
                "this token is not valid for this case", code="wrong_case"
            ) from None
        scope.require_case(case)
        return
    authorize(who, case_id, write=write)


def attachment_view(request: web.Request, attachment: Attachment) -> dict[str, Any]:
    records = request.app[RECORDS]
    who = claims(request)  # the link names who it was handed to: its download is theirs
    expires, signature = records.sign_link(attachment, actor=who.identity, role=who.role.value)
    path = f"/api/v1/cases/{quote(attachment.case_id)}/attachments/{attachment.id}/content"
    query = urlencode({"expires": expires, "signature": signature})
    view = views.Attachment(
        id=attachment.id,
        case_id=attachment.case_id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        sha256=attachment.sha256,
        uploaded_by=attachment.uploaded_by,
        uploaded_at=attachment.uploaded_at,
        content_url=path,
        download_url=f"{request.app[BASE_URL][0]}{path}?{query}",
        download_expires_at=datetime.fromtimestamp(expires, UTC),
    )
    return view.model_dump(mode="json")


@routes.post(PREFIX + "/attachments")
@streams_body
@describe(
    "Upload an attachment (the raw file is the body)." + _WHO,
    status=201,
    query=UploadQuery,
    raw_body={t: BINARY for t in ALLOWED_CONTENT_TYPES},
    response=views.Attachment,
    errors=(404, 415),
    limited=True,
    path=CASE_PATH,
)
async def upload(request: web.Request) -> web.Response:
    who = claims(request)
    case_id = request.match_info["case_id"]
    await authorize_party(request, who, case_id, write=True)
    limit(request, "upload", who.identity)
    settings = request.app[SETTINGS]
    if not request.query.get("filename"):
        raise InvalidInput(
            "the file name goes in the 'filename' query parameter", code="filename_required"
        )
    filename = parse_query(request, UploadQuery).filename
    attachment = await request.app[RECORDS].upload(
        case_id,
        filename=filename,
        content_type=request.headers.get("Content-Type", ""),
        uploaded_by=who.identity,
        chunks=paced(
            request,
            request.content.iter_chunked(CHUNK),
            grace=settings.body_timeout,
            min_rate=settings.min_upload_rate,
        ),
        declared_size=request.content_length,
        # a room token bound to the case has a quota of its own; coordinators do not
        token_id=None if who.is_coordinator else (who.token_id or who.identity),
    )
    if who.room is not None:
        # the room the file was added from lists it at once (its case panel reloads)
        await request.app[ROOM_ROUTER].announce(
            who.room,
            "attachment.added",
            {
                "case_id": attachment.case_id,
                "attachment_id": attachment.id,
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "uploaded_by": attachment.uploaded_by,
            },
        )
    return json_ok(attachment_view(request, attachment), status=201)


@routes.get(PREFIX + "/attachments")
@describe("List a case's attachments." + _WHO, response=views.AttachmentList, path=CASE_PATH)
async def list_attachments(request: web.Request) -> web.Response:
    case_id = request.match_info["case_id"]
    await authorize_party(request, claims(request), case_id)
    found = await request.app[RECORDS].list_attachments(case_id)
    return json_ok({"attachments": [attachment_view(request, a) for a in found]})


@routes.get(PREFIX + "/attachments/{attachment_id}")
@describe(
    "An attachment's metadata, with a fresh signed download link." + _WHO,
    response=views.Attachment,
    errors=(404,),
    path=CASE_PATH,
)
async def get_attachment(request: web.Request) -> web.Response:
    case_id = request.match_info["case_id"]
    who = claims(request)
    await authorize_party(request, who, case_id)
    attachment = await request.app[RECORDS].get_attachment(
        case_id, request.match_info["attachment_id"]
    )
    await request.app[ACCESS_LOG].attachment(
        who.identity, who.role.value, attachment, AccessKind.ATTACHMENT_VIEW
    )
    return json_ok(attachment_view(request, attachment))


@routes.get(PREFIX + "/attachments/{attachment_id}/content")
@describe(
    "The file: with a bearer token, or through a signed link." + _WHO,
    query=LinkQuery,
    response=BINARY,
    media_type="application/octet-stream",
    errors=(404,),
    optional_auth=True,
    path=CASE_PATH,
)
async def download(request: web.Request) -> web.StreamResponse:
    """With a bearer token, or with the ``expires`` and ``signature`` of a signed link."""
    records = request.app[RECORDS]
    case_id = request.match_info["case_id"]
    attachment_id = request.match_info["attachment_id"]
    if "signature" in request.query:
        actor, role = records.verify_link(
            case_id, attachment_id, request.query.get("expires", ""), request.query["signature"]
        )
    else:
        who = claims(request)
        await authorize_party(request, who, case_id)
        actor, role = who.identity, who.role.value
    attachment = await records.get_attachment(case_id, attachment_id)
    await request.app[ACCESS_LOG].attachment(
        actor, role, attachment, AccessKind.ATTACHMENT_DOWNLOAD
    )
    path = records.file_of(attachment)
    ascii_name = attachment.filename.encode("ascii", "replace").decode().replace('"', "_")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": attachment.content_type,
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "ETag": f'"{attachment.sha256}"',
        },
    )


@routes.get(PREFIX + "/chat")
@describe(
    "The chat of the case's rooms, oldest first." + _WHO, response=views.ChatHistory, path=CASE_PATH
)
async def case_chat(request: web.Request) -> web.Response:
    case_id = request.match_info["case_id"]
    await authorize_party(request, claims(request), case_id)
    messages = await request.app[RECORDS].chat_history(case_id)
    history = views.ChatHistory(messages=[views.ChatEntry.of(m) for m in messages])
    return json_ok(history.model_dump(mode="json"))
