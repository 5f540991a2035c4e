from datetime import UTC, datetime, timedelta

import jwt
import pytest

from vidconsult.domain.roles import Grants, Role
from vidconsult.errors import PermissionDenied, Unauthenticated
from vidconsult.tokens import TokenSigner

SECRET = b"s" * 40
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def signer() -> TokenSigner:
    return TokenSigner(SECRET)


def test_round_trip_carries_identity_room_role_and_grants() -> None:
    tok = signer().mint(
        identity="dr-li",
        role=Role.DOCTOR,
        name="Dr Li",
        room="rm_1",
        now=NOW,
        ttl=timedelta(hours=1),
    )
    claims = signer().verify(tok, now=NOW + timedelta(minutes=5))
    assert claims.identity == "dr-li"
    assert claims.name == "Dr Li"
    assert claims.room == "rm_1"
    assert claims.role is Role.DOCTOR
    assert claims.grants == Grants(publish=True, subscribe=True, admin=True)
    assert not claims.is_coordinator


def test_coordinator_without_room_is_coordinator() -> None:
    tok = signer().mint(identity="coord", role=Role.COORDINATOR, now=NOW, ttl=timedelta(hours=1))
    assert signer().verify(tok, now=NOW).is_coordinator


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (
            lambda: signer().mint(
                identity="a",
                role=Role.PATIENT,
                now=NOW - timedelta(hours=2),
                ttl=timedelta(hours=1),
            ),
            "token_expired",
        ),
        (
            lambda: TokenSigner(b"x" * 40).mint(
                identity="a", role=Role.PATIENT, now=NOW, ttl=timedelta(hours=1)
            ),
            "token_invalid",
        ),
        (lambda: "not.a.jwt", "token_malformed"),
        (lambda: "", "token_missing"),
        (
            lambda: jwt.encode(
                {"sub": "a", "role": "surgeon", "iss": "vidconsult", "iat": 0, "exp": 2**33},
                SECRET,
                algorithm="HS256",
            ),
            "token_malformed",
        ),
        (
            lambda: jwt.encode(
                {"sub": "a", "role": "patient", "iat": 0, "exp": 2**33}, SECRET, algorithm="HS256"
            ),
            "token_malformed",
        ),
        (
            lambda: signer().mint(
                identity="a",
                role=Role.PATIENT,
                now=NOW,
                ttl=timedelta(hours=1),
                not_before=NOW + timedelta(hours=1) - timedelta(minutes=1),
            ),
            "token_not_yet_valid",
        ),
    ],
    ids=["expired", "forged", "garbage", "empty", "unknown-role", "no-issuer", "not-yet-valid"],
)
def test_bad_tokens_are_refused_with_a_reason(make, code) -> None:
    with pytest.raises(Unauthenticated) as info:
        signer().verify(make(), now=NOW)
    assert info.value.code == code


def test_alg_none_token_is_refused() -> None:
    tok = jwt.encode(
        {"sub": "a", "role": "coordinator", "iss": "vidconsult", "iat": 0, "exp": 2**33},
        None,
        algorithm="none",
    )
    with pytest.raises(Unauthenticated):
        signer().verify(tok, now=NOW)


def test_token_cannot_raise_its_roles_grants() -> None:
    # an observer token hand-edited (and re-signed with the secret) to claim publish
    tok = jwt.encode(
        {
            "sub": "o",
            "role": "observer",
            "iss": "vidconsult",
            "iat": 0,
            "exp": 2**33,
            "grants": {"publish": True, "admin": True},
        },
        SECRET,
        algorithm="HS256",
    )
    claims = signer().verify(tok, now=NOW)
    assert claims.grants.publish is False
    assert claims.grants.admin is False


def test_grants_can_be_lowered_at_mint() -> None:
    tok = signer().mint(
        identity="d",
        role=Role.DOCTOR,
        room="r",
        now=NOW,
        ttl=timedelta(hours=1),
        grants=Grants(publish=False, subscribe=True, admin=False, hidden=True),
    )
    claims = signer().verify(tok, now=NOW)
    assert (claims.grants.publish, claims.grants.admin, claims.grants.hidden) == (
        False,
        False,
        False,
    )


def test_wrong_room_is_refused() -> None:
    tok = signer().mint(
        identity="d", role=Role.DOCTOR, room="rm_a", now=NOW, ttl=timedelta(hours=1)
    )
    with pytest.raises(PermissionDenied) as info:
        signer().verify(tok, now=NOW).require_room("rm_b")
    assert info.value.code == "wrong_room"


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenSigner(b"short")


def signed(**claims: object) -> str:
    """A token signed with the real secret whose time claims are whatever a forger with the
    secret (or a buggy minting tool) put there."""
    base: dict[str, object] = {"sub": "a", "role": "patient", "iss": "vidconsult", "iat": 0}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


ABSURD_TIMES = [
    {"exp": 10**400},
    {"exp": 1e308},
    {"exp": float("inf")},
    {"exp": float("nan")},
    {"exp": -(10**30)},
    {"exp": True},
    {"exp": 2**33, "nbf": 10**400},
    {"exp": 2**33, "nbf": 1e300},
    {"exp": 2**33, "nbf": -1e20},
    {"exp": 2**33, "nbf": float("nan")},
    {"exp": 2**33, "nbf": float("-inf")},
    {"exp": 2**33, "nbf": True},
]


@pytest.mark.parametrize("claims", ABSURD_TIMES, ids=[repr(c)[:40] for c in ABSURD_TIMES])
def test_absurd_time_claims_are_refused_never_crash(claims: dict[str, object]) -> None:
    # before: OverflowError (10**400, 1e308, inf) or a token that never expires (nan, True)
    with pytest.raises(Unauthenticated) as info:
        signer().verify(signed(**claims), now=NOW)
    assert info.value.code in {"token_malformed", "token_expired"}


def test_time_claims_in_range_still_work() -> None:
    claims = signer().verify(signed(exp=2**33, nbf=0), now=NOW)
    assert claims.expires_at.year > 2200 and claims.not_before is None
    claims = signer().verify(signed(exp=NOW.timestamp() + 60.5), now=NOW)
    assert claims.expires_at.timestamp() == NOW.timestamp() + 60.5
