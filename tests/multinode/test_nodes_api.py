"""GET /api/v1/nodes: two nodes on one in-process live state list each other with their load,
the rooms placed on them and who is present; coordinators only; one node lists itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from tests.helpers import ServerHandle, served
from tests.postgres import PostgresServer, postgres_node_settings
from vidconsult.client import RoomClient
from vidconsult.cluster.memory import MemoryHub
from web.keys import LIVE

Node = Callable[[str], AbstractAsyncContextManager[ServerHandle]]


@pytest.fixture
def node(tmp_path: Path, postgres: PostgresServer) -> Node:
    url = postgres.new_database()
    hub = MemoryHub(ttl=30.0)

    @asynccontextmanager
    async def start(name: str) -> AsyncIterator[ServerHandle]:
        settings = postgres_node_settings(tmp_path / name, url, node_id=name, node_limit=50)
        async with served(settings, installers=[], live=hub.node(name)) as handle:
            yield handle

    return start


async def test_nodes_listed_on_any_node(node: Node) -> None:
    async with node("a") as a, node("b") as b:
        rid = (await a.create_room("Listed"))["id"]
        client = RoomClient(b.url, b.mint("dr-li", "doctor", room=rid))
        try:
            await client.connect()
            where = await a.app[LIVE].placement.where(rid)
            status, body = await a.api("GET", "/api/v1/nodes")
            assert status == 200, body
            assert body["this_node"] == "a" and body["live"] == "memory"
            assert [n["node_id"] for n in body["nodes"]] == ["a", "b"]
            for n in body["nodes"]:
                assert n["address"].startswith("http://127.0.0.1:")
                assert n["limit"] == 50 and n["full"] is False
                assert n["placed_rooms"] == ([rid] if n["node_id"] == where else [])
            assert body["presence"] == {rid: 1}
            status, _ = await b.api(
                "GET", "/api/v1/nodes", token=b.mint("pt-wang", "patient", room=rid)
            )
            assert status in (401, 403)
        finally:
            await client.close()
