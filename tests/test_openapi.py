"""The served OpenAPI document is generated from the app: every route is in it, with its
methods, and each operation lists the errors its handler can answer (checked statically on
the handler's source). Also the edge behaviour the document promises: 405 names the allowed
methods, JSON types are strict, pages carry their security headers."""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

from tests.helpers import ServerHandle

PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:[^{}]*(\{[^{}]*\}[^{}]*)*)?\}")
# what a handler's source says about the errors it can answer
RAISES: list[tuple[re.Pattern[str], set[int]]] = [
    (re.compile(r"\b(claims|require_coordinator|require_room_admin|require_person)\("), {401, 403}),
    (re.compile(r"\b(_authorized|authorize)\("), {401, 403}),
    (re.compile(r"\bparse_body\("), {400, 413}),
    (re.compile(r"\bparse_query\(|\bInvalidInput\("), {400}),
    (re.compile(r"\blimit\(request"), {429}),
    (re.compile(r"\bNotFound\(|\.get_room\(|\.get_attachment\(|\b_authorized\("), {404}),
    (re.compile(r"\bConflict\("), {409}),
    (re.compile(r"\bPermissionDenied\("), {403}),
    (re.compile(r"\bUnauthenticated\(|_check_link\("), {401}),
]

# what the patterns above see but the handler does not answer, and why
NOT_ANSWERED = {
    ("GET", "/api/v1/recordings", 404): "room names are looked up with NotFound suppressed",
}


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        if isinstance(resource, web.StaticResource):
            path = resource.canonical.rstrip("/") + "/{filename}"
        else:
            path = PARAM.sub(r"{\1}", resource.canonical)
        found.add((route.method.lower(), path))
    return found


async def served(server: ServerHandle) -> dict[str, Any]:
    status, doc = await server.api("GET", "/api/v1/openapi.json", token="")
    assert status == 200
    return doc


async def test_every_route_is_documented_with_its_methods(app_server: ServerHandle) -> None:
    doc = await served(app_server)
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    routes = app_routes(app_server.app)
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations the server does not have"
    # the areas' routes are all there: rooms, workflow, records, accounts, webhooks, recordings
    for path in (
        "/api/v1/rooms/{room_id}/tokens",
        "/api/v1/cases/{case_id}/booking",
        "/api/v1/cases/{case_id}/attachments",
        "/api/v1/auth/login",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "/api/v1/recordings/{recording_id}/content",
    ):
        assert path in doc["paths"], path


def handler_source(handler: Any) -> str:
    source = inspect.getsource(inspect.unwrap(handler))
    # the helpers a handler calls that raise on its behalf
    for helper in re.findall(r"\b(_[a-z_]+)\(", source):
        fn = getattr(inspect.getmodule(handler), helper, None)
        if callable(fn) and not isinstance(fn, type):
            try:
                source += inspect.getsource(fn)
            except (OSError, TypeError):
                pass
    return source


async def test_each_operation_documents_the_errors_its_handler_raises(
    app_server: ServerHandle,
) -> None:
    doc = await served(app_server)
    missing = []
    for route in app_server.app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        if isinstance(route.resource, web.StaticResource):
            continue
        path = PARAM.sub(r"{\1}", route.resource.canonical)
        op = doc["paths"][path][route.method.lower()]
        documented = {int(s) for s in op["responses"] if s.isdigit()}
        try:
            source = handler_source(route.handler)
        except (OSError, TypeError):
            continue  # not ours (the Socket.IO transport)
        needed: set[int] = set()
        for pattern, statuses in RAISES:
            if pattern.search(source):
                needed |= statuses
        needed = {s for s in needed if (route.method, path, s) not in NOT_ANSWERED}
        if needed - documented:
            missing.append(f"{route.method} {path}: {sorted(needed - documented)}")
        if "requestBody" in op and "content" in op["requestBody"]:
            assert 400 in documented, f"{route.method} {path} takes a body but not 400"
    assert missing == []


async def test_rate_limited_and_busy_answers_are_documented(app_server: ServerHandle) -> None:
    doc = await served(app_server)
    login = doc["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"429", "503"} <= set(login)
    assert "429" in doc["paths"]["/api/v1/rooms/{room_id}/tokens"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/v1/cases/{case_id}/attachments"]["post"]["responses"]


async def test_bodies_and_responses_come_from_the_models(app_server: ServerHandle) -> None:
    doc = await served(app_server)
    schemas = doc["components"]["schemas"]
    room = doc["paths"]["/api/v1/rooms"]["post"]
    assert room["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateRoom"
    }
    assert room["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RoomOut"
    }
    assert schemas["Bandwidth"]["properties"]["video_kbps"]["type"] == "integer"
    assert schemas["RoomOut"]["properties"]["status"] == {"$ref": "#/components/schemas/RoomStatus"}
    assert "scheduled" in schemas["RoomStatus"]["enum"]
    # a room created answers exactly what its response model says
    created = await app_server.create_room("Checked")
    assert set(created) == set(schemas["RoomOut"]["properties"])


async def test_json_types_are_strict(app_server: ServerHandle) -> None:
    room = await app_server.create_room("Strict")
    path = f"/api/v1/rooms/{room['id']}/bandwidth"
    for bad in ({"video_kbps": False}, {"video_kbps": "300"}, {"video_kbps": 300.5}):
        status, body = await app_server.api("PUT", path, bad)
        assert status == 400 and body["error"]["code"] == "invalid_payload", bad
    status, body = await app_server.api("PUT", path, {"video_kbps": 300})
    assert status == 200 and body["room_max_video_kbps"] == 300


async def test_405_names_the_allowed_methods(app_server: ServerHandle) -> None:
    async with app_server.session.request("PATCH", app_server.url + "/api/v1/rooms") as resp:
        assert resp.status == 405
        assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_pages_and_files_carry_security_headers(app_server: ServerHandle) -> None:
    for path in ("/room/rm_x", "/dashboard", "/", "/static/room.js", "/api/v1/rooms"):
        async with app_server.session.get(app_server.url + path) as resp:
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self';" in csp and "unsafe-inline" not in csp, path
            assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
            host = app_server.url.split("://", 1)[1]
            assert f"connect-src 'self' ws://{host} wss://{host};" in csp
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"


# JSON answers that are not a response model, and why
UNMODELLED = {
    ("get", "/api/v1/openapi.json"): "this document: OpenAPI's own schema",
    ("get", "/healthz"): 'stated inline: {"status": "ok"}',
    **{
        (method, "/socket.io/"): "the Socket.IO transport (engine.io's protocol)"
        for method in ("get", "post", "options")
    },
}


async def test_json_answers_are_response_models(app_server: ServerHandle) -> None:
    doc = await served(app_server)
    plain = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None and "$ref" not in schema:
                    plain.add((method, path))
    assert plain == set(UNMODELLED)
