"""Room-scoped access tokens: HS256 JWTs signed with the server secret (PyJWT).

Claims: ``iss`` (``vidconsult``), ``sub`` (identity), ``name``, ``room`` (absent for a token
not bound to a room), ``role``, ``grants`` ({publish, subscribe, admin, hidden}), ``iat``,
``nbf``, ``exp``, ``jti``. Optional ``case`` ties a token to a case.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from vidconsult.domain.roles import Grants, Role, grants_for
from vidconsult.domain.rooms import validate_identity
from vidconsult.errors import PermissionDenied, Unauthenticated

ISSUER = "vidconsult"
ALGORITHM = "HS256"
MAX_TTL = timedelta(days=30)
# tolerance for clocks of several nodes that disagree a little
LEEWAY_SECONDS = 5
# time claims must be instants a datetime can hold: 1970-01-01 .. 9999-12-31 (UTC)
MAX_TIMESTAMP = 253402300799


@dataclass(frozen=True, slots=True)
class TokenClaims:
    identity: str
    name: str
    role: Role
    grants: Grants
    room: str | None
    expires_at: datetime
    not_before: datetime | None = None
    case: str | None = None
    token_id: str = ""
    # a dashboard login: "{account id}.{session generation}"; the account ends it (disabled,
    # password changed) by moving its generation on
    session: str | None = None

    def require_room(self, room_id: str) -> None:
        if self.room != room_id:
            raise PermissionDenied("token is not valid for this room", code="wrong_room")

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR and self.room is None


class TokenSigner:
    """Mints and verifies tokens with one secret. Thread-safe, no state beyond the key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("token secret must be at least 32 bytes")
        self._secret = secret

    def mint(
        self,
        *,
        identity: str,
        role: Role,
        now: datetime,
        ttl: timedelta,
        name: str | None = None,
        room: str | None = None,
        grants: Grants | None = None,
        not_before: datetime | None = None,
        case: str | None = None,
        session: str | None = None,
    ) -> str:
        validate_identity(identity)
        if ttl <= timedelta(0) or ttl > MAX_TTL:
            raise ValueError(f"ttl must be positive and at most {MAX_TTL}")
        effective = grants_for(role) if grants is None else grants_for(role).narrowed(grants)
        payload: dict[str, object] = {
            "iss": ISSUER,
            "sub": identity,
            "name": name or identity,
            "role": role.value,
            "grants": effective.to_dict(),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_urlsafe(12),
        }
        if room is not None:
            payload["room"] = room
        if not_before is not None:
            payload["nbf"] = int(not_before.timestamp())
        if case is not None:
            payload["case"] = case
        if session is not None:
            payload["ses"] = session
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify(self, token: object, *, now: datetime | None = None) -> TokenClaims:
        """Return the claims of a valid token, else raise :class:`Unauthenticated`."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated("missing token", code="token_missing")
        if len(token) > 8192:
            raise Unauthenticated("token too long", code="token_malformed")
        # time claims are checked below, against the injected clock when there is one
        options: jwt.types.Options = {
            "require": ["exp", "iat", "sub", "role", "iss"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        try:
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options=options,
            )
            ts = (now or datetime.now(UTC)).timestamp()
            exp = _instant(data["exp"], "exp")
            if ts > exp + LEEWAY_SECONDS:
                raise jwt.ExpiredSignatureError("Signature has expired")
            nbf = None if data.get("nbf") is None else _instant(data["nbf"], "nbf")
            if nbf is not None and ts + LEEWAY_SECONDS < nbf:
                opens = datetime.fromtimestamp(nbf, UTC).isoformat(timespec="minutes")
                raise Unauthenticated(
                    f"token is not valid before {opens} (the room is not open yet)",
                    code="token_not_yet_valid",
                )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token has expired", code="token_expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("token signature is invalid", code="token_invalid") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"malformed token: {exc}", code="token_malformed") from None
        try:
            role = Role(data["role"])
            grants_raw = data.get("grants") or {}
            if not isinstance(grants_raw, dict):
                raise ValueError("grants must be an object")
            identity = validate_identity(str(data["sub"]))
            room = data.get("room")
            if room is not None and not isinstance(room, str):
                raise ValueError("room must be a string")
            return TokenClaims(
                identity=identity,
                name=str(data.get("name") or identity)[:200],
                role=role,
                # a token can never hold more than its role allows
                grants=grants_for(role).narrowed(Grants.from_dict(grants_raw)),
                room=room,
                expires_at=datetime.fromtimestamp(exp).astimezone(),
                not_before=datetime.fromtimestamp(nbf).astimezone() if nbf else None,
                case=data.get("case") if isinstance(data.get("case"), str) else None,
                token_id=str(data.get("jti", "")),
                session=data.get("ses") if isinstance(data.get("ses"), str) else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthenticated(
                f"malformed token claims: {exc}", code="token_malformed"
            ) from None


def _instant(value: object, name: str) -> float:
    """A time claim as seconds since the epoch; a signed token can still carry anything there
    (a bool, NaN, 10**400): such a claim is malformed, never a crash or a token for ever."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise jwt.InvalidTokenError(f"{name} must be a number")
    if not 0 <= value <= MAX_TIMESTAMP:  # NaN fails this too
        raise jwt.InvalidTokenError(f"{name} is out of range")
    return float(value)
