"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``.

Request bodies come from the pydantic models that validate them, so the document cannot drift
from what the server accepts. Other modules register their paths with :func:`add_paths`."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from vidconsult import __version__
from web.schemas import Bandwidth, CreateRoom, CreateToken

routes = web.RouteTableDef()
OPENAPI = web.AppKey("openapi", dict)

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
TRACK = {
    "type": "object",
    "properties": {
        "sid": {"type": "string"},
        "kind": {"type": "string", "enum": ["audio", "video"]},
        "muted": {"type": "boolean"},
    },
}
PARTICIPANT = {
    "type": "object",
    "properties": {
        "identity": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string"},
        "joined_at": {"type": "string", "format": "date-time"},
        "grants": {"type": "object"},
        "tracks": {"type": "array", "items": {"$ref": "#/components/schemas/Track"}},
    },
}
ROOM = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["consultation", "emergency", "lecture"]},
        "case_id": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["open", "ended"]},
        "created_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "end_reason": {"type": ["string", "null"]},
        "max_participants": {"type": "integer"},
        "max_video_kbps": {"type": "integer"},
        "participants": {"type": "array", "items": {"$ref": "#/components/schemas/Participant"}},
    },
}
TOKEN = {
    "type": "object",
    "properties": {
        "token": {"type": "string"},
        "join_url": {"type": "string"},
        "room_id": {"type": "string"},
        "identity": {"type": "string"},
        "role": {"type": "string"},
        "expires_in": {"type": "integer"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


def ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    resp: dict[str, Any] = {"description": description}
    if schema is not None:
        resp["content"] = {"application/json": {"schema": schema}}
    return resp


def errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {"description": "error", "content": {"application/json": {"schema": ref("Error")}}}
        for s in statuses
    }


ROOM_ID = {"name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}}


def base_document() -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "vidconsult",
            "version": __version__,
            "description": "Video medical consultations: rooms, join tokens, and the "
            "consultation workflow. Authenticate with `Authorization: Bearer <token>`; writes "
            "need a coordinator token not bound to a room. Errors are "
            '`{"error": {"code", "message"}}`.',
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": {
                "Error": ERROR,
                "Track": TRACK,
                "Participant": PARTICIPANT,
                "Room": ROOM,
                "JoinToken": TOKEN,
            },
        },
        "security": [{"bearer": []}],
        "paths": {},
    }
    add_models(doc, CreateRoom, CreateToken, Bandwidth)
    add_paths(
        doc,
        {
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": ok("ok", {"type": "object"})},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [],
                    "responses": {"200": {"description": "text exposition"}},
                }
            },
            "/api/v1/rooms": {
                "post": {
                    "summary": "Create a room",
                    "requestBody": body("CreateRoom"),
                    "responses": {"201": ok("created", ref("Room")), **errors(400, 401, 403, 413)},
                },
                "get": {
                    "summary": "List rooms (open by default)",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["open", "ended", "all"]},
                        },
                        {"name": "case_id", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": ok(
                            "rooms",
                            {
                                "type": "object",
                                "properties": {"rooms": {"type": "array", "items": ref("Room")}},
                            },
                        ),
                        **errors(400, 401, 403),
                    },
                },
            },
            "/api/v1/rooms/{room_id}": {
                "parameters": [ROOM_ID],
                "get": {
                    "summary": "A room with its live participants and their tracks",
                    "responses": {"200": ok("room", ref("Room")), **errors(401, 403, 404)},
                },
                "delete": {
                    "summary": "End a room: every participant is told and disconnected",
                    "responses": {"200": ok("ended", ref("Room")), **errors(401, 403, 404, 409)},
                },
            },
            "/api/v1/rooms/{room_id}/bandwidth": {
                "parameters": [ROOM_ID],
                "put": {
                    "summary": "Cap publishers' video bitrate (the room's, or one participant's)",
                    "requestBody": body("Bandwidth"),
                    "responses": {
                        "200": ok("applied", {"type": "object"}),
                        **errors(400, 401, 403, 404, 409),
                    },
                },
            },
            "/api/v1/rooms/{room_id}/tokens": {
                "parameters": [ROOM_ID],
                "post": {
                    "summary": "Mint a join token and link for a participant",
                    "requestBody": body("CreateToken"),
                    "responses": {
                        "201": ok("token", ref("JoinToken")),
                        **errors(400, 401, 403, 404, 409, 413, 429),
                    },
                },
            },
        },
    )
    return doc


def add_models(doc: dict[str, Any], *models: type[BaseModel]) -> None:
    schemas = doc["components"]["schemas"]
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[model.__name__] = schema


def add_paths(doc: dict[str, Any], paths: dict[str, Any]) -> None:
    doc["paths"].update(paths)


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
