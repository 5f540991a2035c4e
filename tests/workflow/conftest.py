from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes import FakeClock
from tests.sio import RawClient
from tests.workflow.helpers import MONDAY_9AM, WorkflowServer, workflow_server
from vidconsult.config import Settings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9AM)


@pytest.fixture
async def wf(settings: Settings, clock: FakeClock) -> AsyncIterator[WorkflowServer]:
    """The real server (REST + signaling) on an ephemeral port, on a fake clock, with the
    scheduler's background loop off: tests drive it with ``scheduler.tick()``."""
    settings = settings.model_copy(update={"scheduler_interval": 0})
    async with workflow_server(settings, clock) as server:
        yield server


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
