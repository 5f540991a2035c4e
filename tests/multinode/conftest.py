"""Three real ``vidconsult serve`` nodes on one PostgreSQL and one redis-server (a server of
this test's own: some tests stop it), behind a TCP front (tests/multinode/cluster.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.multinode.cluster import Cluster, Front, Node, free_port
from tests.postgres import PostgresServer
from tests.redis_server import RedisServer, redis_server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
async def cluster(
    tmp_path: Path, postgres: PostgresServer, own_redis: RedisServer
) -> AsyncIterator[Cluster]:
    database_url = postgres.new_database()
    nodes: list[Node] = []
    front = Front(nodes)
    for name in ("n1", "n2", "n3"):
        nodes.append(
            Node(
                name=name,
                port=free_port(),
                data_dir=tmp_path / name,
                database_url=database_url,
                redis_url=own_redis.url,
                public_url=front.url,
            )
        )
    await front.start()
    async with aiohttp.ClientSession() as session:
        # together: one migrates the database under its advisory lock, the others wait for it
        for node in nodes:
            node.start()
        try:
            await asyncio.gather(*(node.ready(session) for node in nodes))
            yield Cluster(nodes=nodes, front=front, session=session)
        finally:
            await front.close()
            for node in nodes:
                node.kill()  # nothing to keep: a clean stop only costs time


# headless Chromium (Debian's) with the house flags, and the room-page helpers of the browser
# suite: tests/browser/conftest.py and test_e2e_room.py
from tests.browser.conftest import (  # noqa: E402,F401
    browser,
    chromium_path,
    count_get_user_media,
    sdk_clients,
)
from tests.browser.test_e2e_room import open_as  # noqa: E402,F401
