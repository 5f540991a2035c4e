"""Issue 14, finding 4: an unauthenticated login flood. Argon2 checks used to queue without
bound in the default thread pool (60 logins at concurrency 20: RSS 118 -> 502 MiB, uploads 6 ms
-> 1.4 s p50). Now they run in a bounded pool of their own, excess logins are answered 503 at
once, and logins are rate-limited per client address and per user name (known or not)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.helpers import ServerHandle
from tests.installed import fast_accounts, serve
from vidconsult import areas
from vidconsult.config import Settings
from vidconsult.services.accounts import Passwords
from web import accounts_api

PASSWORD = "correct horse battery"


async def login(server: ServerHandle, username: str, password: str = "wrong password!"):
    async with server.session.post(
        server.url + "/api/v1/auth/login", json={"username": username, "password": password}
    ) as resp:
        return resp.status, dict(resp.headers), await resp.json()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Password checks wait until the test releases them: the pool is provably full."""
    release = threading.Event()
    verify = Passwords.verify

    def gated(self: Passwords, *args: Any) -> Any:
        assert release.wait(10), "never released"
        return verify(self, *args)

    monkeypatch.setattr(Passwords, "verify", gated)
    yield release
    release.set()


def configure(settings: Settings, **values: Any) -> Settings:
    for name, value in values.items():
        setattr(settings, name, value)
    return settings


@pytest.fixture
async def flood_server(settings: Settings) -> AsyncIterator[ServerHandle]:
    configure(settings, password_workers=1, password_queue=2, login_rate_ip=0)
    configure(settings, login_rate_account=0)
    async with serve(settings, [areas.accounts_installer(fast_accounts())]) as handle:
        yield handle


async def test_a_login_flood_beyond_the_pool_is_answered_503_at_once(
    flood_server: ServerHandle, gate: threading.Event
) -> None:
    held = [asyncio.ensure_future(login(flood_server, f"user-{i}")) for i in range(3)]
    pool = flood_server.app[accounts_api.PASSWORD_POOL]
    for _ in range(500):  # one check runs (held by the gate), two wait
        if pool.busy == 3:
            break
        await asyncio.sleep(0.01)
    assert pool.busy == 3
    # the old code queued these too, behind the held ones: none answered before the release
    flood = [login(flood_server, f"flood-{i}") for i in range(10)]
    answers = await asyncio.wait_for(asyncio.gather(*flood), timeout=5)
    for status, headers, body in answers:
        assert status == 503, body
        assert body["error"]["code"] == "busy"
        assert int(headers["Retry-After"]) >= 1
    gate.set()
    assert [status for status, _, _ in await asyncio.gather(*held)] == [401, 401, 401]
    # the pool drained: logins are checked again
    assert (await login(flood_server, "later"))[0] == 401


async def rate_server(settings: Settings, **rates: int) -> Callable[[], Any]:
    configure(settings, **rates)
    return serve(settings, [areas.accounts_installer(fast_accounts())])


async def test_logins_are_limited_per_user_name_known_or_not(settings: Settings) -> None:
    async with await rate_server(settings, login_rate_ip=100, login_rate_account=3) as server:
        status, body = await server.api(
            "POST",
            "/api/v1/accounts",
            {"username": "prof-zhao", "role": "expert", "password": PASSWORD},
        )
        assert status == 201, body
        for name in ("prof-zhao", "nobody"):  # the same answers: existence is not revealed
            assert [(await login(server, name))[0] for _ in range(3)] == [401] * 3
            status, headers, body = await login(server, name)
            assert status == 429, body  # the old code: 401 (and a fourth Argon2 check)
            assert body["error"]["code"] == "rate_limited"
            assert 1 <= int(headers["Retry-After"]) <= 20
        # other user names from the same address still get in
        status, _, body = await login(server, "PROF-ZHAO ", PASSWORD)
        assert status == 429  # the same user name, however written
        assert (await login(server, "someone-else"))[0] == 401


async def test_logins_are_limited_per_client_address(settings: Settings) -> None:
    async with await rate_server(settings, login_rate_ip=4, login_rate_account=100) as server:
        statuses = [(await login(server, f"name-{i}"))[0] for i in range(6)]
        assert statuses == [401, 401, 401, 401, 429, 429]
        status, body = await server.api("GET", "/metrics", token="")
        assert 'vidconsult_rejected_total{kind="rate_limited_login",source="http"} 2.0' in body
