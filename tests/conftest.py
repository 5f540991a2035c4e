from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes import NullMediaEngine
from tests.helpers import SECRET, ServerHandle
from tests.postgres import PostgresServer, postgres_server
from tests.redis_server import RedisServer, redis_server
from vidconsult.app import run_server
from vidconsult.config import Settings
from vidconsult.tokens import TokenSigner


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The servers' settings; ``@pytest.mark.settings(name=value)`` changes some."""
    marker = request.node.get_closest_marker("settings")
    overrides = dict(marker.kwargs) if marker else {}
    return Settings.from_env(
        {}, host="127.0.0.1", port=0, data_dir=tmp_path / "var", secret=SECRET, **overrides
    )


async def _serve(settings: Settings, **kw) -> AsyncIterator[ServerHandle]:
    async with run_server(settings, **kw) as server, aiohttp.ClientSession() as session:
        yield ServerHandle(
            url=server.url, signer=TokenSigner(SECRET.encode()), app=server.app, session=session
        )


@pytest.fixture
async def app_server(settings: Settings) -> AsyncIterator[ServerHandle]:
    """The real app on an ephemeral port, with a media engine that forwards nothing."""
    async for handle in _serve(settings, media=NullMediaEngine()):
        yield handle


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[ServerHandle]:
    """The real server: REST, signaling and the aiortc media engine, on an ephemeral port."""
    async for handle in _serve(settings):
        yield handle


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL (Debian's, as an unprivileged user) for the session; tests take a
    database of their own from it (``postgres.new_database()``)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """One real redis-server for the session; tests keep apart by a key prefix of their own
    (pub/sub channels ignore Redis' numbered databases). A test that stops Redis starts its
    own (``tests.redis_server.redis_server()``)."""
    with redis_server() as server:
        yield server
