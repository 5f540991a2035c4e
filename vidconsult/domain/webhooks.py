"""Outgoing webhooks: which events an endpoint receives, how a delivery is signed, and when a
failed one is retried. Pure rules; the delivery worker lives in ``services/webhooks.py``."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import InvalidInput

MAX_URL = 2000
MAX_PATTERNS = 50
_PATTERN_RE = re.compile(r"^(\*|[a-z0-9_]+(\.([a-z0-9_]+|\*))*)$")


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


@dataclass(frozen=True, slots=True)
class Destinations:
    """Where deliveries may go: public (globally routable) addresses, plus the networks the
    operator lists (an on-premise hospital information system on 10.x). Everything else is
    refused, whatever name leads there: loopback, private, link-local (a cloud's metadata
    service at 169.254.169.254), reserved, multicast. A webhook is configured by a
    coordinator and posted by the server, so without this it would reach the server's own
    network (server-side request forgery)."""

    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Destinations:
        """``"10.20.0.0/16, 192.168.5.7"``: CIDR networks or addresses, comma-separated."""
        nets = []
        for item in (part.strip() for part in text.split(",")):
            if item:
                try:
                    nets.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"not a network or address: {item!r}") from None
        return cls(tuple(nets))

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            elif ip in _NAT64 or ip in _V4_COMPATIBLE:  # an IPv4 address inside: judge it
                ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.is_multicast or ip.is_unspecified:
            return False
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return True
        return ip.is_global

    def check_host(self, host: str) -> None:
        """Refuse a URL's host that names a refused address outright (an IP literal or
        ``localhost``); other names are checked on every delivery, once resolved."""
        name = _ascii_host(host.strip("[]")).lower().rstrip(".")
        literal = "127.0.0.1" if name == "localhost" or name.endswith(".localhost") else name
        try:
            ipaddress.ip_address(literal.split("%", 1)[0])
        except ValueError:
            return  # a name: resolved and checked when posting
        if not self.allows(literal):
            raise InvalidInput(
                f"webhook url points at {host}, an address webhooks may not reach (loopback,"
                " private, link-local...); an operator can allow a network with"
                " webhook_allowed_networks",
                code="url_not_allowed",
            )


def _ascii_host(host: str) -> str:
    """The host as the HTTP client will use it: an internationalised name is mapped to ASCII
    first (IDNA), and that mapping turns e.g. "127。0。0。1" or full-width digits into an IP
    literal, which must be checked as one."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(
            f"webhook url host {host!r} is not a valid host name", code="invalid_url"
        ) from None


def validate_url(url: str, destinations: Destinations | None = None) -> str:
    """An absolute http(s) URL with a host and no credentials in it (and, with
    ``destinations``, not naming a refused address)."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise InvalidInput(f"webhook url must be 1..{MAX_URL} characters", code="invalid_url")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput("webhook url must be an absolute http(s) URL", code="invalid_url")
    if parts.username or parts.password:
        raise InvalidInput("webhook url must not carry credentials", code="invalid_url")
    if destinations is not None:
        destinations.check_host(parts.hostname)
    return url


def validate_patterns(patterns: list[str]) -> tuple[str, ...]:
    """Event patterns: ``"*"``, ``"case.*"``, ``"room.ended"``; at least one."""
    if not patterns or len(patterns) > MAX_PATTERNS:
        raise InvalidInput(f"events must list 1..{MAX_PATTERNS} patterns", code="invalid_events")
    cleaned = []
    for pattern in patterns:
        p = pattern.strip().lower()
        if not _PATTERN_RE.match(p):
            raise InvalidInput(f"not an event pattern: {pattern!r}", code="invalid_events")
        cleaned.append(p)
    return tuple(dict.fromkeys(cleaned))


def matches(patterns: tuple[str, ...], event: str) -> bool:
    """``"case.*"`` matches ``"case.created"`` (and ``"case.booking.moved"``)."""
    return any(fnmatchcase(event, p) for p in patterns)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>``; receivers recompute it and
    refuse old timestamps to stop replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n failed -> wait base * 2**(n-1), capped at
    ``max_delay``, scaled down by up to ``jitter`` (0.5 = "equal jitter")."""

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 600.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("retry policy needs max_attempts >= 1 and 0 <= base <= max delay")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within 0..1")

    def delay(self, attempts: int, rand: float) -> float:
        """Seconds to wait after ``attempts`` failed attempts; ``rand`` in [0, 1)."""
        nominal = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return nominal * (1 - self.jitter * rand)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"  # final: never retried


def classify(status: int | None) -> Outcome:
    """An attempt's outcome from the HTTP status (``None``: timeout or connection error).
    2xx succeeds; 429, 5xx and network errors are retried; any other status is final
    (redirects are not followed)."""
    if status is None or status == 429 or status >= 500:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.SUCCEEDED
    return Outcome.FAILED


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_by: str
    created_at: datetime
    description: str = ""

    def __post_init__(self) -> None:
        require_aware(self.created_at, "created_at")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event to one endpoint; ``body`` is serialized once so every retry is identical.

    ``after_id``: a delivery that must be finished (succeeded or given up) before this one is
    attempted (a page's ``page.cancelled`` waits for that page's ``page.sent`` to the same
    endpoint: the gateway never hears "stop calling" before "call"). None: no order."""

    id: str
    webhook_id: str
    event: str
    event_id: str
    body: bytes
    created_at: datetime
    next_attempt_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str = ""
    after_id: str | None = None


def keyed_id(prefix: str, *parts: str) -> str:
    """A stable id derived from ``parts`` (an event's key, an endpoint): the same event made
    again (after a crash, on another node) gets the same delivery id, which the queue keeps
    once and the receiver deduplicates on (``X-Vidconsult-Delivery``)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"
