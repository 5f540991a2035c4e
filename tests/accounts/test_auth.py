"""Dashboard log-in, lockout, account management and API tokens over the real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import FakeClock
from tests.helpers import ServerHandle
from tests.installed import fast_accounts, serve
from vidconsult import areas
from vidconsult.config import Settings
from vidconsult.domain.accounts import LockoutPolicy

PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def server(settings: Settings, clock: FakeClock) -> AsyncIterator[ServerHandle]:
    config = fast_accounts(lockout=LockoutPolicy(max_failures=3, lock_for=timedelta(minutes=15)))
    async with serve(settings, [areas.accounts_installer(config)], clock=clock) as handle:
        yield handle


async def create(
    server: ServerHandle, username: str, role: str = "expert", password: str = PASSWORD
) -> dict:
    status, body = await server.api(
        "POST",
        "/api/v1/accounts",
        {"username": username, "role": role, "password": password, "display_name": username},
    )
    assert status == 201, body
    return body


async def login(server: ServerHandle, username: str, password: str) -> tuple[int, dict]:
    return await server.api(
        "POST", "/api/v1/auth/login", {"username": username, "password": password}, token=""
    )


async def test_login_gives_a_token_of_the_account_role(server: ServerHandle) -> None:
    await create(server, "li.coord", "coordinator")
    await create(server, "prof-zhao", "expert")
    status, body = await login(server, "Li.Coord", PASSWORD)  # user names are case-blind
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 12 * 3600
    assert body["account"]["username"] == "li.coord" and "password_hash" not in body["account"]
    coord = body["token"]
    assert (await server.api("GET", "/api/v1/rooms", token=coord))[0] == 200
    status, me = await server.api("GET", "/api/v1/auth/me", token=coord)
    assert (me["identity"], me["role"], me["room"]) == ("li.coord", "coordinator", None)
    status, body = await login(server, "prof-zhao", PASSWORD)
    expert = body["token"]
    assert (await server.api("GET", "/api/v1/auth/me", token=expert))[1]["role"] == "expert"
    # an expert is no coordinator
    assert (await server.api("GET", "/api/v1/rooms", token=expert))[0] == 403
    assert (await server.api("GET", "/api/v1/accounts", token=expert))[0] == 403


async def test_wrong_password_and_unknown_user_look_the_same(server: ServerHandle) -> None:
    await create(server, "prof-zhao")
    wrong = await login(server, "prof-zhao", "not the password")
    unknown = await login(server, "nobody", "not the password")
    assert wrong[0] == unknown[0] == 401
    assert (
        wrong[1]
        == unknown[1]
        == {"error": {"code": "invalid_credentials", "message": "invalid user name or password"}}
    )
    assert (await login(server, "", "x"))[0] == 400


async def test_lockout_after_failures_then_unlock(server: ServerHandle, clock: FakeClock) -> None:
    await create(server, "prof-zhao")
    for _ in range(3):
        assert (await login(server, "prof-zhao", "bad password!"))[0] == 401
    # locked: even the right password is refused for a while
    status, body = await login(server, "prof-zhao", PASSWORD)
    assert status == 429 and body["error"]["code"] == "account_locked"
    # unknown names lock the same way (no account enumeration through lockout)
    for _ in range(3):
        assert (await login(server, "ghost", "bad password!"))[0] == 401
    assert (await login(server, "ghost", "bad password!"))[0] == 429
    status, listing = await server.api("GET", "/api/v1/accounts")
    assert listing["accounts"][0]["locked_until"] is not None
    clock.advance(minutes=16)
    assert (await login(server, "prof-zhao", PASSWORD))[0] == 200
    # a success resets the count: two more failures do not lock
    for _ in range(2):
        assert (await login(server, "prof-zhao", "bad password!"))[0] == 401
    assert (await login(server, "prof-zhao", PASSWORD))[0] == 200


async def test_disable_enable_and_change_password(server: ServerHandle) -> None:
    await create(server, "prof-zhao")
    status, body = await server.api("PATCH", "/api/v1/accounts/prof-zhao", {"disabled": True})
    assert status == 200 and body["disabled"] is True
    status, body = await login(server, "prof-zhao", PASSWORD)
    assert status == 403 and body["error"]["code"] == "account_disabled"
    await server.api("PATCH", "/api/v1/accounts/prof-zhao", {"disabled": False})
    token = (await login(server, "prof-zhao", PASSWORD))[1]["token"]
    new = "a much better passphrase"
    status, body = await server.api(
        "POST",
        "/api/v1/auth/password",
        {"current_password": "wrong one", "new_password": new},
        token=token,
    )
    assert status == 403
    status, body = await server.api(
        "POST",
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": "short"},
        token=token,
    )
    assert status == 400 and body["error"]["code"] == "weak_password"
    status, body = await server.api(
        "POST",
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": new},
        token=token,
    )
    assert status == 200, body
    assert (await login(server, "prof-zhao", PASSWORD))[0] == 401
    assert (await login(server, "prof-zhao", new))[0] == 200
    # a room token has no account
    room_token = server.mint("prof-zhao", "expert", room="rm_1")
    assert (
        await server.api(
            "POST",
            "/api/v1/auth/password",
            {"current_password": new, "new_password": new + "!"},
            token=room_token,
        )
    )[0] == 403


async def test_account_management_is_for_coordinators(server: ServerHandle) -> None:
    patient = server.mint("p1", "patient", room="rm_1")
    body = {"username": "x1", "role": "expert", "password": PASSWORD}
    assert (await server.api("POST", "/api/v1/accounts", body, token=patient))[0] == 403
    assert (await server.api("POST", "/api/v1/accounts", body, token=""))[0] == 401
    await create(server, "x1")
    status, err = await server.api("POST", "/api/v1/accounts", body)
    assert status == 409 and err["error"]["code"] == "account_exists"
    status, err = await server.api(
        "POST", "/api/v1/accounts", {**body, "username": "x2", "password": "abc"}
    )
    assert status == 400 and err["error"]["code"] == "weak_password"
    status, err = await server.api("POST", "/api/v1/accounts", {**body, "username": "a b"})
    assert status == 400 and err["error"]["code"] == "invalid_username"
    status, err = await server.api("POST", "/api/v1/accounts", {**body, "role": "patient"})
    assert status == 400


async def test_api_token_works_until_revoked(server: ServerHandle, clock: FakeClock) -> None:
    status, created = await server.api("POST", "/api/v1/api-tokens", {"name": "HIS bridge"})
    assert status == 201, created
    secret = created["token"]
    assert secret.startswith("vck_") and created["role"] == "coordinator"
    assert (await server.api("GET", "/api/v1/rooms", token=secret))[0] == 200
    status, me = await server.api("GET", "/api/v1/auth/me", token=secret)
    assert me["role"] == "coordinator" and me["name"] == "HIS bridge"
    # the secret is never shown again
    status, listing = await server.api("GET", "/api/v1/api-tokens")
    assert [t["id"] for t in listing["api_tokens"]] == [created["id"]]
    assert secret not in str(listing) and "token" not in listing["api_tokens"][0]
    # an API token cannot mint more tokens or accounts
    assert (await server.api("POST", "/api/v1/api-tokens", {"name": "x"}, token=secret))[0] == 403
    status, _ = await server.api("DELETE", f"/api/v1/api-tokens/{created['id']}")
    assert status == 200
    status, err = await server.api("GET", "/api/v1/rooms", token=secret)
    assert status == 401 and err["error"]["code"] == "token_revoked"
    assert (await server.api("DELETE", "/api/v1/api-tokens/tok_none"))[0] == 404
    # unknown, and expert-role, and expiring tokens
    assert (await server.api("GET", "/api/v1/rooms", token="vck_" + "x" * 43))[0] == 401
    status, expert = await server.api(
        "POST", "/api/v1/api-tokens", {"name": "viewer", "role": "expert", "ttl_days": 1}
    )
    assert (await server.api("GET", "/api/v1/rooms", token=expert["token"]))[0] == 403
    assert (await server.api("GET", "/api/v1/auth/me", token=expert["token"]))[0] == 200
    clock.advance(days=1, seconds=1)
    status, err = await server.api("GET", "/api/v1/auth/me", token=expert["token"])
    assert status == 401 and err["error"]["code"] == "token_expired"


async def test_sessions_end_on_disable_password_change_and_logout(server: ServerHandle) -> None:
    await create(server, "prof-zhao")
    first = (await login(server, "prof-zhao", PASSWORD))[1]["token"]
    second = (await login(server, "prof-zhao", PASSWORD))[1]["token"]  # another browser
    assert (await server.api("GET", "/api/v1/auth/me", token=first))[0] == 200

    # disabling the account refuses its live login tokens at once, not 12 h later
    await server.api("PATCH", "/api/v1/accounts/prof-zhao", {"disabled": True})
    for token in (first, second):
        status, body = await server.api("GET", "/api/v1/auth/me", token=token)
        assert status == 401 and body["error"]["code"] == "session_ended", body
    # and enabling it again does not bring them back
    await server.api("PATCH", "/api/v1/accounts/prof-zhao", {"disabled": False})
    assert (await server.api("GET", "/api/v1/auth/me", token=first))[0] == 401

    # a password change ends the other sessions and hands this one a new token
    mine = (await login(server, "prof-zhao", PASSWORD))[1]["token"]
    other = (await login(server, "prof-zhao", PASSWORD))[1]["token"]
    status, body = await server.api(
        "POST",
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": "a much better passphrase"},
        token=mine,
    )
    assert status == 200 and body["token"], body
    assert (await server.api("GET", "/api/v1/auth/me", token=other))[0] == 401
    assert (await server.api("GET", "/api/v1/auth/me", token=mine))[0] == 401
    renewed = body["token"]
    assert (await server.api("GET", "/api/v1/auth/me", token=renewed))[0] == 200

    # sign out everywhere
    assert (await server.api("POST", "/api/v1/auth/logout-all", token=renewed))[0] == 200
    assert (await server.api("GET", "/api/v1/auth/me", token=renewed))[0] == 401
    # tokens that are no dashboard login are not affected, and cannot sign out
    coordinator = server.mint("ops", "coordinator")
    assert (await server.api("GET", "/api/v1/rooms", token=coordinator))[0] == 200
    assert (await server.api("POST", "/api/v1/auth/logout-all", token=coordinator))[0] == 403
