"""Edge of the HTTP API: the error middleware (domain errors -> status codes with a JSON body),
bearer-token authentication and body parsing."""

from __future__ import annotations

import json
import logging
import math
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from vidconsult import errors
from vidconsult.tokens import TokenClaims
from web.keys import API_TOKEN_RESOLVER, CLOCK, SESSION_CHECKER, SIGNER

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

STATUS: dict[type[errors.VidconsultError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedType: 415,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}
# opaque integration tokens (see web/accounts_api.py) start with this; JWTs never do
API_TOKEN_PREFIX = "vck_"
# what the middleware resolved for this request: the claims, or why the token was refused
_API_CLAIMS = web.RequestKey[TokenClaims | errors.Unauthenticated]("api_token_claims")


def error_response(
    status: int, code: str, message: str, *, retry_after: float | None = None
) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="vidconsult"'} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers or None
    )


def status_for(exc: errors.VidconsultError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 400


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.VidconsultError as exc:
        return error_response(status_for(exc), exc.code, exc.message, retry_after=exc.retry_after)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "too_large", exc.text or "request body too large")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            code = exc.reason.lower().replace(" ", "_")
            response = error_response(exc.status, code, exc.reason)
            if "Allow" in exc.headers:  # a 405 names the methods that are (RFC 9110 15.5.6)
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        raise
    except Exception:
        log.exception("unhandled error method=%s path=%s", request.method, request.path)
        return error_response(500, "internal", "internal error")


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@web.middleware
async def api_token_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """The async part of authentication, before the handler, so that the synchronous
    :func:`claims` can answer: an opaque API token is resolved through the store, and a login
    token's session is checked against its account (ended by signing out, a password change
    or disabling the account). Errors surface only where claims are asked for."""
    token = bearer_token(request)
    if token:
        try:
            if token.startswith(API_TOKEN_PREFIX):
                resolver = request.app.get(API_TOKEN_RESOLVER)
                if resolver is not None:
                    request[_API_CLAIMS] = await resolver(token)
            else:
                checker = request.app.get(SESSION_CHECKER)
                if checker is not None:
                    verified = request.app[SIGNER].verify(token, now=request.app[CLOCK].now())
                    if verified.session is not None:
                        await checker(verified)
                    request[_API_CLAIMS] = verified  # claims() need not verify it again
        except errors.Unauthenticated as exc:
            request[_API_CLAIMS] = exc
    return await handler(request)


def claims(request: web.Request) -> TokenClaims:
    token = bearer_token(request)
    if token is None:
        raise errors.Unauthenticated("missing bearer token", code="token_missing")
    resolved = request.get(_API_CLAIMS)
    if isinstance(resolved, errors.Unauthenticated):
        raise resolved
    if isinstance(resolved, TokenClaims):
        return resolved
    if token.startswith(API_TOKEN_PREFIX):
        raise errors.Unauthenticated("API tokens are not enabled", code="token_invalid")
    return request.app[SIGNER].verify(token, now=request.app[CLOCK].now())


def require_room_admin(request: web.Request, room_id: str) -> TokenClaims:
    """A coordinator, or a token of this room with the admin grant."""
    c = claims(request)
    if not c.is_coordinator:
        c.require_room(room_id)
        if not c.grants.admin:
            raise errors.PermissionDenied("only a coordinator or a room admin may do this")
    return c


def require_coordinator(request: web.Request) -> TokenClaims:
    c = claims(request)
    if not c.is_coordinator:
        raise errors.PermissionDenied("this needs a coordinator token not bound to a room")
    return c


async def parse_body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise errors.InvalidInput(
            "expected Content-Type: application/json", code="unsupported_media_type"
        )
    raw = await request.read()
    try:
        # a number without a fractional part is an integer, as JSON Schema has it (5.0 is 5)
        data = json.loads(raw or b"null", parse_float=_number)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.InvalidInput(f"body is not valid JSON: {exc}", code="invalid_json") from None
    try:
        # strict: JSON types as the document says them (false is not 0, "5" is not 5); in
        # JSON mode strings still become dates, times and enum members
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise errors.InvalidInput(_describe(exc), code="invalid_payload") from None


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string through its model (lax: every value arrives as a string); the same
    model describes the parameters in the OpenAPI document."""
    data = {key: request.query[key] for key in request.query}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.InvalidInput(_describe(exc), code="invalid_query") from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)


def json_ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)
