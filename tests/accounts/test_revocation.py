"""Revoked join tokens over the real server: a removed participant's link, the links a
disabled coordinator minted, and links capped to the dashboard login that asked for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import socketio

from tests.fakes import FakeClock
from tests.helpers import ServerHandle
from tests.installed import fast_accounts, serve
from tests.sio import RawClient
from vidconsult import areas
from vidconsult.config import Settings

PASSWORD = "correct horse battery"
WAIT = 5


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def server(settings: Settings, clock: FakeClock) -> AsyncIterator[ServerHandle]:
    async with serve(settings, [areas.accounts_installer(fast_accounts())], clock=clock) as h:
        yield h


@pytest.fixture
async def clients() -> AsyncIterator:
    made: list[RawClient] = []

    def make() -> RawClient:
        made.append(RawClient())
        return made[-1]

    yield make
    for c in made:
        await c.close()


async def refusal(server: ServerHandle, token: str) -> dict:
    """How a Socket.IO connection with ``token`` is refused."""
    c = RawClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect(server.url, token)
    await c.close()
    return c.connect_error


async def coordinator_login(server: ServerHandle, username: str = "li.coord") -> str:
    status, body = await server.api(
        "POST",
        "/api/v1/accounts",
        {"username": username, "role": "coordinator", "password": PASSWORD},
    )
    assert status == 201, body
    status, body = await server.api(
        "POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD}, token=""
    )
    assert status == 200, body
    return body["token"]


async def link(server: ServerHandle, room_id: str, identity: str, token: str, **kw) -> dict:
    status, body = await server.api(
        "POST",
        f"/api/v1/rooms/{room_id}/tokens",
        {"identity": identity, "role": "patient", **kw},
        token=token,
    )
    assert status == 201, body
    return body


async def test_a_removed_participant_reloading_the_same_link_is_refused(
    server: ServerHandle, clients
) -> None:
    room = await server.create_room()
    rid = room["id"]
    patient = (await server.join_token(rid, "pt", "patient"))["token"]
    doc, pat = clients(), clients()
    await doc.connect(server.url, server.mint("dr", "doctor", room=rid))
    await pat.connect(server.url, patient)
    await doc.request("join")
    await pat.request("join")
    assert await doc.request("admin.remove", {"identity": "pt"}) == {"ok": True}
    await asyncio.wait_for(pat.disconnected.wait(), WAIT)
    # the reload: the same link, refused with a reason the page can show
    error = await refusal(server, patient)
    assert error["data"]["code"] == "token_revoked", error
    assert "removed" in error["data"]["message"]
    status, body = await server.api("GET", f"/api/v1/rooms/{rid}", token=patient)
    assert (status, body["error"]["code"]) == (401, "token_revoked")
    # a new link lets them back in
    again = clients()
    await again.connect(server.url, (await server.join_token(rid, "pt", "patient"))["token"])
    assert "participant" in await again.request("join")


async def test_revoked_between_connect_and_join_cannot_join(server: ServerHandle, clients) -> None:
    rid = (await server.create_room())["id"]
    patient = (await server.join_token(rid, "pt", "patient"))["token"]
    doc, pat, second = clients(), clients(), clients()
    await doc.connect(server.url, server.mint("dr", "doctor", room=rid))
    await doc.request("join")
    await pat.connect(server.url, patient)
    await second.connect(server.url, patient)  # a second tab, connected but not joined
    await pat.request("join")
    assert await doc.request("admin.remove", {"identity": "pt"}) == {"ok": True}
    assert (await second.request("join"))["error"]["code"] == "token_revoked"


async def test_a_disabled_coordinators_links_are_refused_at_join_and_rest(
    server: ServerHandle, clock: FakeClock
) -> None:
    coord = await coordinator_login(server)
    rid = (await server.create_room())["id"]
    minted = (await link(server, rid, "pt", coord))["token"]
    other = (await link(server, rid, "pt2", server.coordinator_token))["token"]
    assert (await server.api("GET", f"/api/v1/rooms/{rid}", token=minted))[0] == 200

    clock.advance(seconds=2)
    status, _ = await server.api("PATCH", "/api/v1/accounts/li.coord", {"disabled": True})
    assert status == 200
    status, body = await server.api("GET", f"/api/v1/rooms/{rid}", token=minted)
    assert (status, body["error"]["code"]) == (401, "token_revoked")
    error = await refusal(server, minted)
    assert error["data"]["code"] == "token_revoked", error
    assert "disabled" in error["data"]["message"]
    # links other coordinators minted are untouched
    assert (await server.api("GET", f"/api/v1/rooms/{rid}", token=other))[0] == 200

    # enabled again: its old links stay revoked, the ones it mints now work
    clock.advance(seconds=2)
    status, _ = await server.api("PATCH", "/api/v1/accounts/li.coord", {"disabled": False})
    assert status == 200
    status, body = await server.api(
        "POST", "/api/v1/auth/login", {"username": "li.coord", "password": PASSWORD}, token=""
    )
    clock.advance(seconds=2)
    fresh = (await link(server, rid, "pt", body["token"]))["token"]
    assert (await server.api("GET", f"/api/v1/rooms/{rid}", token=fresh))[0] == 200
    assert (await server.api("GET", f"/api/v1/rooms/{rid}", token=minted))[0] == 401


async def test_revocations_survive_a_restart(settings: Settings, clock: FakeClock) -> None:
    async with serve(settings, [areas.accounts_installer(fast_accounts())], clock=clock) as s:
        coord = await coordinator_login(s)
        rid = (await s.create_room())["id"]
        minted = (await link(s, rid, "pt", coord))["token"]
        clock.advance(seconds=2)
        assert (await s.api("PATCH", "/api/v1/accounts/li.coord", {"disabled": True}))[0] == 200
    async with serve(settings, [areas.accounts_installer(fast_accounts())], clock=clock) as s:
        status, body = await s.api("GET", f"/api/v1/rooms/{rid}", token=minted)
        assert (status, body["error"]["code"]) == (401, "token_revoked")


async def test_a_link_asked_with_a_login_ends_with_the_login(
    server: ServerHandle, clock: FakeClock
) -> None:
    coord = await coordinator_login(server)
    rid = (await server.create_room())["id"]
    session_ends = clock.now() + timedelta(hours=12)
    clock.advance(hours=11)  # an hour of the 12-hour login left
    capped = await link(server, rid, "pt", coord, ttl=6 * 3600)
    # (the login's exp is in whole seconds)
    assert 3599 <= capped["expires_in"] <= 3600
    assert datetime.fromisoformat(capped["expires_at"]) <= session_ends
    default = await link(server, rid, "pt2", coord)  # the server's token_ttl (4 h): capped too
    assert default["expires_in"] == capped["expires_in"]
    # asked for explicitly, a link may outlive the login
    long = await link(server, rid, "pt3", coord, ttl=6 * 3600, long_link=True)
    assert long["expires_in"] == 6 * 3600
    # tokens that are not a dashboard login (CLI, API tokens) are not capped
    cli = server.mint("coordinator", "coordinator", ttl=86400)
    assert (await link(server, rid, "pt4", cli, ttl=6 * 3600))["expires_in"] == 6 * 3600


async def test_links_minted_with_a_revoked_api_token_are_refused(
    server: ServerHandle, clock: FakeClock
) -> None:
    status, created = await server.api(
        "POST", "/api/v1/api-tokens", {"name": "his", "role": "coordinator"}
    )
    assert status == 201, created
    rid = (await server.create_room())["id"]
    minted = (await link(server, rid, "pt", created["token"]))["token"]
    assert (await server.api("GET", f"/api/v1/rooms/{rid}", token=minted))[0] == 200
    clock.advance(seconds=2)
    assert (await server.api("DELETE", f"/api/v1/api-tokens/{created['id']}"))[0] == 200
    status, body = await server.api("GET", f"/api/v1/rooms/{rid}", token=minted)
    assert (status, body["error"]["code"]) == (401, "token_revoked")
