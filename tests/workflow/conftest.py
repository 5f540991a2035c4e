from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes import FakeClock, NullMediaEngine
from tests.helpers import SECRET
from tests.sio import RawClient
from tests.workflow.helpers import MONDAY_9AM, WorkflowServer
from vidconsult.app import EVENTS, run_server
from vidconsult.config import Settings
from vidconsult.tokens import TokenSigner


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9AM)


@pytest.fixture
async def wf(settings: Settings, clock: FakeClock) -> AsyncIterator[WorkflowServer]:
    """The real server (REST + signaling) on an ephemeral port, on a fake clock, with the
    scheduler's background loop off: tests drive it with ``scheduler.tick()``."""
    settings = settings.model_copy(update={"scheduler_interval": 0})
    async with (
        run_server(settings, clock=clock, media=NullMediaEngine()) as server,
        aiohttp.ClientSession() as session,
    ):
        events: list[tuple[str, dict[str, Any]]] = []

        async def record(event: str, data: dict[str, Any]) -> None:
            events.append((event, data))

        server.app[EVENTS].subscribe(record)
        yield WorkflowServer(
            url=server.url,
            signer=TokenSigner(SECRET.encode()),
            app=server.app,
            session=session,
            clock=clock,
            events=events,
        )


@pytest.fixture
async def clients() -> AsyncIterator[Any]:
    made: list[RawClient] = []

    def make() -> RawClient:
        c = RawClient()
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()
