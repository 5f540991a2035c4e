"""Query-string parameters of the REST API: instants, enums and limits (400 when malformed)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TypeVar

from aiohttp import web

from vidconsult.errors import InvalidInput

E = TypeVar("E", bound=Enum)


def query_instant(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    if "T" in raw:
        raw = raw.replace(" ", "+")  # an unencoded "+08:00" offset arrives as " 08:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise InvalidInput(f"{name} must carry a UTC offset", code="naive_datetime")
    return value


def query_enum(request: web.Request, kind: type[E], name: str) -> E | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(str(v.value) for v in kind)
        raise InvalidInput(f"{name} must be one of {allowed}") from None


def query_limit(request: web.Request, default: int = 100, most: int = 1000) -> int:
    try:
        value = int(request.query.get("limit", default))
    except ValueError:
        raise InvalidInput("limit must be an integer") from None
    if not 1 <= value <= most:
        raise InvalidInput(f"limit must be 1..{most}")
    return value
