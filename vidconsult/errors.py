"""Domain errors. Plain exceptions; only the edges (HTTP middleware, signaling) map them
to status codes or error payloads. Each carries a stable machine-readable ``code``."""

from __future__ import annotations


class VidconsultError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"
    # seconds after which the same request may succeed (RateLimited, Unavailable), if known
    retry_after: float | None = None

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after


class InvalidInput(VidconsultError):
    """A payload, SDP or parameter that does not make sense."""

    code = "invalid_input"


class Unauthenticated(VidconsultError):
    """No credentials, or credentials that are forged, expired or malformed."""

    code = "unauthenticated"


class PermissionDenied(VidconsultError):
    """Valid credentials that do not allow this action."""

    code = "permission_denied"


class UnsupportedType(InvalidInput):
    """A payload of a type the server does not accept (or whose bytes are not what it claims)."""

    code = "unsupported_media_type"


class NotFound(VidconsultError):
    code = "not_found"


class Conflict(VidconsultError):
    """The action collides with current state (room ended, slot taken, illegal transition)."""

    code = "conflict"


class TooLarge(VidconsultError):
    code = "too_large"


class Unavailable(VidconsultError):
    """A dependency (media engine, store) cannot serve the request now."""

    code = "unavailable"


class RateLimited(VidconsultError):
    """Too many attempts (failed logins, a rate limit); retry later (``retry_after``)."""

    code = "rate_limited"


class Misconfigured(VidconsultError):
    """A dependency refuses this server's settings (a wrong password, an unknown user): no
    retry helps, the operator must change them. Raised at start, which it stops; never an
    answer to a request."""

    code = "misconfigured"
