"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``, generated from the app.

Each handler declares what it is next to its route with :func:`describe` (summary, request and
query models, response model, the error statuses it may answer). At start-up the document is
built from ``app.router``: paths and methods from the routes, path parameters from their
patterns, bodies and responses from the pydantic models (``model_json_schema``), and the
errors every handler of a kind can answer (authentication, validation, rate limits) added here
once. A route with no description is left out and fails ``tests/test_openapi.py``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel

from vidconsult import __version__

routes = web.RouteTableDef()
OPENAPI = web.AppKey("openapi", dict)

H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Component:
    """A hand-written schema with a name: it goes to components/schemas once, and a ``$ref``
    wherever it is used (also inside another schema)."""

    name: str
    schema: Mapping[str, Any]


Schema = type[BaseModel] | Mapping[str, Any] | Component | None
# who may call: anyone; any valid token (401 without one, 403 for a wrong room or role)
Auth = Literal["none", "token"]

MESSAGES = {
    400: "invalid input",
    401: "missing, invalid or expired token",
    403: "the token lacks the right",
    404: "not found",
    408: "the body did not arrive in time",
    409: "conflicts with the current state",
    413: "body too large, or a quota exceeded",
    415: "unsupported content type",
    429: "rate limited (Retry-After)",
    503: "busy or unavailable now (Retry-After)",
}
ERROR: dict[str, Any] = {
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
OBJECT: dict[str, Any] = {"type": "object"}
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


@dataclass(frozen=True, slots=True)
class Operation:
    """What one handler answers; see :func:`describe`."""

    summary: str
    status: int = 200
    response: Schema = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: Auth = "token"
    limited: bool = False
    # a body that is not JSON: {media type: schema}, e.g. an upload's raw bytes
    raw_body: Mapping[str, Any] | None = None
    # a response that is not JSON: its media type (the schema is then ``response``)
    media_type: str = "application/json"
    # a token is not the only way in (a signed link): the bearer scheme is optional
    optional_auth: bool = False
    # schemas of path parameters narrower than one path segment (an enum, a pattern)
    path: Mapping[str, Any] | None = None

    def error_statuses(self) -> set[int]:
        """The declared errors plus those its kind of handler answers anyway."""
        found = set(self.errors)
        if self.auth != "none":
            found |= {401, 403}
        if self.body is not None or self.raw_body is not None:
            # invalid_json, unsupported_media_type, invalid_payload; too_large; body_timeout
            found |= {400, 408, 413}
        if self.query is not None or self.path is not None:
            found.add(400)
        if self.limited:
            found.add(429)
        return found


def describe(
    summary: str,
    *,
    status: int = 200,
    response: Schema = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: Iterable[int] = (),
    auth: Auth = "token",
    limited: bool = False,
    raw_body: Mapping[str, Any] | None = None,
    media_type: str = "application/json",
    optional_auth: bool = False,
    path: Mapping[str, Any] | None = None,
) -> Callable[[H], H]:
    """Declare a handler's operation for the generated document (put it under the route)."""
    op = Operation(
        summary=summary,
        status=status,
        response=response,
        body=body,
        query=query,
        errors=tuple(errors),
        auth=auth,
        limited=limited,
        raw_body=raw_body,
        media_type=media_type,
        optional_auth=optional_auth,
        path=path,
    )

    def mark(handler: H) -> H:
        handler.__openapi__ = op  # type: ignore[attr-defined]
        return handler

    return mark


def operation_of(handler: Any) -> Operation | None:
    return getattr(handler, "__openapi__", None)


# routes that are not ours to decorate (the Socket.IO transport, the static directory)
SOCKET_IO = Operation(
    "Socket.IO transport (signaling; see docs/signaling.md)", auth="none", response=OBJECT
)
EXTERNAL: dict[tuple[str, str], Operation] = {
    **{(method, "/socket.io/"): SOCKET_IO for method in ("GET", "POST", "OPTIONS")},
    ("GET", "/static/{filename}"): Operation(
        "The browser client's static files",
        auth="none",
        errors=(404,),
        response={"type": "string"},
        media_type="*/*",
    ),
}


class Document:
    """Builds the document: components (models) and paths (routes)."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR}
        self.paths: dict[str, dict[str, Any]] = {}

    def model(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        self.schemas.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def schema(self, schema: Schema) -> Any:
        if schema is None:
            return None
        if isinstance(schema, type):
            return self.model(schema, "serialization")
        return self.resolve(schema)

    def resolve(self, value: Any) -> Any:
        """A schema with its components registered and replaced by references."""
        if isinstance(value, Component):
            if value.name not in self.schemas:
                self.schemas[value.name] = self.resolve(value.schema)
            return {"$ref": f"#/components/schemas/{value.name}"}
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value

    def add(self, method: str, path: str, op: Operation) -> None:
        doc: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(method, path)}
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": (op.path or {}).get(name) or _path_schema(pattern),
            }
            for name, pattern in PATH_PARAM.findall(path)
        ]
        if op.query is not None:
            params += self.query_params(op.query)
        if params:
            doc["parameters"] = params
        if op.body is not None:
            doc["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.model(op.body, "validation")}},
            }
        elif op.raw_body is not None:
            doc["requestBody"] = {
                "required": True,
                "content": {t: {"schema": s} for t, s in op.raw_body.items()},
            }
        success: dict[str, Any] = {"description": "ok"}
        schema = self.schema(op.response)
        if schema is not None:
            success["content"] = {op.media_type: {"schema": schema}}
        responses: dict[str, Any] = {str(op.status): success}
        for status in sorted(op.error_statuses()):
            responses[str(status)] = _error(status)
        doc["responses"] = responses
        if op.auth == "none":
            doc["security"] = []
        elif op.optional_auth:
            doc["security"] = [{"bearer": []}, {}]
        self.paths.setdefault(PATH_PARAM.sub(r"{\1}", path), {})[method.lower()] = doc

    def query_params(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        required = set(schema.get("required", ()))
        params = []
        for name, prop in schema.get("properties", {}).items():
            field = model.model_fields[name]
            param: dict[str, Any] = {
                "name": field.alias or name,
                "in": "query",
                "required": name in required,
                "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            }
            if field.description:
                param["description"] = field.description
            params.append(param)
        return params

    def as_dict(self) -> dict[str, Any]:
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "vidconsult",
                "version": __version__,
                "description": "Video medical consultations: rooms, join tokens, and the "
                "consultation workflow. Authenticate with `Authorization: Bearer <token>`; "
                "writes need a coordinator token not bound to a room. Errors are "
                '`{"error": {"code", "message"}}`. Generated from the routes and their '
                "pydantic models (web/openapi.py).",
            },
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                },
                "schemas": dict(sorted(self.schemas.items())),
            },
            "security": [{"bearer": []}],
            "paths": dict(sorted(self.paths.items())),
        }


# "{name}" or "{name:regex}" in an aiohttp route pattern
PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")


def _path_schema(pattern: str) -> dict[str, Any]:
    # aiohttp's default matches one non-empty segment without "/"
    return {"type": "string", "pattern": f"^{pattern}$" if pattern else "^[^/]+$"}


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", PATH_PARAM.sub(r"\1", path)).strip("_")
    return f"{method.lower()}_{words or 'root'}"


def _error(status: int) -> dict[str, Any]:
    return {
        "description": MESSAGES.get(status, "error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def route_path(route: web.AbstractRoute) -> str | None:
    """The documented path of a route: its pattern; a static directory's file pattern."""
    resource = route.resource
    if resource is None:
        return None
    if isinstance(resource, web.StaticResource):
        return resource.canonical.rstrip("/") + "/{filename}"
    return resource.canonical


def documented_routes(app: web.Application) -> Iterable[tuple[str, str, Operation | None]]:
    """(method, path, operation) of every route (HEAD twins of GET routes left out)."""
    for route in app.router.routes():
        path = route_path(route)
        if path is None or route.method == "HEAD":
            continue
        op = operation_of(route.handler) or EXTERNAL.get((route.method, path))
        yield route.method, path, op


def build(app: web.Application) -> dict[str, Any]:
    doc = Document()
    for method, path, op in documented_routes(app):
        if op is not None:
            doc.add(method, path, op)
    return doc.as_dict()


async def generate(app: web.Application) -> None:
    """on_startup: the routes are final now."""
    app[OPENAPI].clear()
    app[OPENAPI].update(build(app))


def install(app: web.Application) -> None:
    app[OPENAPI] = {}
    app.router.add_routes(routes)
    app.on_startup.append(generate)


@routes.get("/api/v1/openapi.json")
@describe("This document (OpenAPI 3.1)", auth="none", response=OBJECT)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
