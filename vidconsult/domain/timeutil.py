"""Small time helpers shared by the domain modules: zone lookup and aware-datetime checks.

The core never reads the clock; every instant comes in as an argument and must be aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vidconsult.errors import InvalidInput


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def load_zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (``"Asia/Shanghai"``), or ``InvalidInput``."""
    if not name or not isinstance(name, str):
        raise InvalidInput("time zone name must be a non-empty string", code="invalid_time_zone")
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", code="invalid_time_zone") from None


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Return ``value`` unchanged if it carries a UTC offset, else raise ``InvalidInput``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be timezone-aware", code="naive_datetime")
    return value


def to_epoch(value: datetime) -> int:
    """Whole seconds since the epoch (the index works on integers, the API on datetimes)."""
    return int(require_aware(value).timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def utc_iso(value: datetime) -> str:
    """The instant as ISO 8601 in UTC ("2026-03-09T01:30:00+00:00"): how the API and the store
    write every instant, whatever zone it was computed in (an SLA deadline is local midnight in
    the centre's zone; a start may arrive with the caller's offset)."""
    return require_aware(value).astimezone(UTC).isoformat()


def zone_text(value: datetime, zone: str) -> str:
    """Wall-clock time in ``zone`` with an unambiguous label for people to read:
    "2026-03-09 09:20 UTC+08:00 (Asia/Shanghai)" (never an abbreviation such as "CST")."""
    local = require_aware(value).astimezone(load_zone(zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} UTC{offset[:3]}:{offset[3:]} ({zone})"
