from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import NullMediaEngine
from tests.helpers import SECRET, ServerHandle, served
from tests.postgres import PostgresServer, postgres_server
from tests.redis_server import RedisServer, redis_server
from vidconsult import event_loop
from vidconsult.client import RoomClient
from vidconsult.config import Settings


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], Any]]:
    """Async tests and their fixtures run on the event loop the product ships with
    (``vidconsult serve``'s default, vidconsult/event_loop.py), so they exercise it; those
    marked ``asyncio_loop`` on asyncio's own (``--event-loop asyncio``: its transports)."""
    if item.get_closest_marker("asyncio_loop") is not None:
        return {"asyncio": event_loop.loop_factory("asyncio")}
    return {event_loop.DEFAULT: event_loop.loop_factory()}


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The servers' settings; ``@pytest.mark.settings(name=value)`` changes some."""
    marker = request.node.get_closest_marker("settings")
    overrides = dict(marker.kwargs) if marker else {}
    return Settings.from_env(
        {}, host="127.0.0.1", port=0, data_dir=tmp_path / "var", secret=SECRET, **overrides
    )


async def _serve(settings: Settings, **kw) -> AsyncIterator[ServerHandle]:
    async with served(settings, **kw) as handle:
        yield handle


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


@dataclass(slots=True)
class TwoInARoom:
    """A room and two Python participants in it (real peers over loopback); ``sids`` of each
    one's published camera and microphone ({} if it did not publish)."""

    room_id: str
    first: RoomClient
    second: RoomClient
    first_sids: dict[str, str]
    second_sids: dict[str, str]


@pytest.fixture
async def two_in_a_room(
    live_server: ServerHandle,
) -> AsyncIterator[Callable[..., Awaitable[TwoInARoom]]]:
    """``await two_in_a_room(first=(identity, role), second=(identity, role), publish=...,
    second_options={...})``: both joined, and (``publish``: by default both, else the listed
    identities) publishing a test camera and microphone; closed after the test."""
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    made: list[RoomClient] = []

    async def make(
        first: tuple[str, str] = ("dr-li", "doctor"),
        second: tuple[str, str] = ("pt-wang", "patient"),
        *,
        name: str = "Consult",
        publish: tuple[str, ...] | None = None,
        second_options: dict[str, Any] | None = None,
    ) -> TwoInARoom:
        rid = (await live_server.create_room(name))["id"]
        a = RoomClient(live_server.url, live_server.mint(first[0], first[1], room=rid))
        b = RoomClient(
            live_server.url,
            live_server.mint(second[0], second[1], room=rid),
            **(second_options or {}),
        )
        made.extend((a, b))
        await a.connect()
        await b.connect()
        sids: list[dict[str, str]] = []
        for client, identity in ((a, first[0]), (b, second[0])):
            if publish is None or identity in publish:
                sids.append(await client.publish(VideoStreamTrack(), AudioStreamTrack()))
            else:
                sids.append({})
        return TwoInARoom(rid, a, b, sids[0], sids[1])

    yield make
    for client in reversed(made):
        await client.close()
