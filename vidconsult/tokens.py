"""Room-scoped access tokens: HS256 JWTs signed with the server secret (PyJWT).

Claims: ``iss`` (``vidconsult``), ``sub`` (identity), ``name``, ``room`` (absent for a token
not bound to a room), ``role``, ``grants`` ({publish, subscribe, admin, hidden}), ``iat``,
``nbf``, ``exp``, ``jti``. Optional ``case`` ties a token to a case; ``by`` names who minted
it (an account id, or an API token id), so that disabling that account revokes the tokens it
issued; ``ses`` marks a dashboard login.

Verification checks the signature and the times; with a revocation check (the app passes its
revocation list) it also refuses revoked tokens (``token_revoked``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

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
    # who minted it: an account id (a dashboard login) or an API token id
    minted_by: str | None = None
    issued_at: datetime | None = None

    @property
    def account_id(self) -> str | None:
        """The account of a dashboard login token (``ses`` is "{account id}.{generation}")."""
        return self.session.rpartition(".")[0] or None if self.session else None

    @property
    def minter(self) -> str | None:
        """What tokens minted with these claims record in ``by``: the login's account, or the
        API token (room tokens mint nothing)."""
        if self.session is not None:
            return self.account_id
        if self.identity.startswith("api-token:"):
            return self.token_id or None
        return None

    def require_room(self, room_id: str) -> None:
        if self.room != room_id:
            raise PermissionDenied("token is not valid for this room", code="wrong_room")

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR and self.room is None


class RevocationCheck(Protocol):
    def check(self, claims: TokenClaims) -> None:
        """Raise Unauthenticated (``token_revoked``) if these claims were revoked; cheap
        (it runs on every verification)."""


class TokenSigner:
    """Mints and verifies tokens with one secret. Thread-safe; no state beyond the key and
    the revocation check it is given."""

    def __init__(self, secret: bytes, *, revocations: RevocationCheck | None = None) -> None:
        if len(secret) < 32:
            raise ValueError("token secret must be at least 32 bytes")
        self._secret = secret
        self._revocations = revocations

    def check_revoked(self, claims: TokenClaims) -> None:
        """Raise Unauthenticated if the claims were revoked since they were verified."""
        if self._revocations is not None:
            self._revocations.check(claims)

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
        minted_by: str | None = None,
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
        if minted_by is not None:
            payload["by"] = minted_by
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify(
        self, token: object, *, now: datetime | None = None, early: bool = False
    ) -> TokenClaims:
        """Return the claims of a valid token, else raise :class:`Unauthenticated`.
        ``early``: accept a token before its ``nbf`` (the link check tells when it opens; the
        claims' ``not_before`` says it; nothing else may use such claims)."""
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
            if nbf is not None and ts + LEEWAY_SECONDS < nbf and not early:
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
            verified = TokenClaims(
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
                minted_by=data.get("by") if isinstance(data.get("by"), str) else None,
                issued_at=datetime.fromtimestamp(_instant(data["iat"], "iat"), UTC),
            )
        except (ValueError, KeyError, TypeError, jwt.InvalidTokenError) as exc:
            raise Unauthenticated(
                f"malformed token claims: {exc}", code="token_malformed"
            ) from None
        self.check_revoked(verified)
        return verified


def link_ttl(ttl: timedelta, *, session_left: timedelta | None, long_link: bool) -> timedelta:
    """The lifetime of a join link asked for with a dashboard login: it ends with that login
    (``session_left``), unless the coordinator asks for a longer one explicitly
    (``long_link``). ``session_left`` None: not asked with a login (API token, CLI)."""
    if session_left is None or long_link or ttl <= session_left:
        return ttl
    if session_left < timedelta(seconds=1):
        raise Unauthenticated("the session has expired; sign in again", code="token_expired")
    return timedelta(seconds=int(session_left.total_seconds()))


def _instant(value: object, name: str) -> float:
    """A time claim as seconds since the epoch; a signed token can still carry anything there
    (a bool, NaN, 10**400): such a claim is malformed, never a crash or a token for ever."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise jwt.InvalidTokenError(f"{name} must be a number")
    if not 0 <= value <= MAX_TIMESTAMP:  # NaN fails this too
        raise jwt.InvalidTokenError(f"{name} is out of range")
    return float(value)
