"""Issue 14: the REST endpoints that mint join tokens are rate-limited per client address and
per account (429 + Retry-After, the house error body). Before, a coordinator token (or a
leaked API token) could mint without bound."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers import ServerHandle
from tests.installed import serve
from vidconsult.config import Settings
from vidconsult.domain.roles import Role


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    settings.token_rate_account = 3
    settings.token_rate_ip = 5
    async with serve(settings, []) as handle:
        yield handle


async def mint(server: ServerHandle, room_id: str, token: str) -> tuple[int, dict, dict]:
    async with server.session.post(
        f"{server.url}/api/v1/rooms/{room_id}/tokens",
        json={"identity": "dr-li", "role": "doctor"},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_join_tokens_are_limited_per_account_then_per_address(
    server: ServerHandle,
) -> None:
    room = await server.create_room()
    alice = server.mint("coord-alice", Role.COORDINATOR)
    bob = server.mint("coord-bob", Role.COORDINATOR)
    assert [(await mint(server, room["id"], alice))[0] for _ in range(3)] == [201] * 3
    status, headers, body = await mint(server, room["id"], alice)
    assert status == 429, body  # the old code: 201, without end
    assert body == {"error": {"code": "rate_limited", "message": body["error"]["message"]}}
    assert 1 <= int(headers["Retry-After"]) <= 20
    # another account from the same address: two more fit in the address's bucket of 5
    assert [(await mint(server, room["id"], bob))[0] for _ in range(3)] == [201, 201, 429]


async def test_refused_before_the_body_is_read(server: ServerHandle) -> None:
    """A refused request costs no parsing: even a bad body gets 429, not 400."""
    room = await server.create_room()
    alice = server.mint("coord-alice", Role.COORDINATOR)
    for _ in range(3):
        await mint(server, room["id"], alice)
    status, body = await server.api("POST", f"/api/v1/rooms/{room['id']}/tokens", {}, token=alice)
    assert status == 429, body
