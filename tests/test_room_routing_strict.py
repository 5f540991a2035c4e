"""Who is in a room on another node, when that node does not answer: a listing shows nobody
(the dashboard goes on), a decision (withdrawing an emergency: refused once an expert is in
its room) gets 503 ``node_unavailable`` instead of guessing that nobody is there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vidconsult.cluster.memory import MemoryHub
from vidconsult.errors import Unavailable
from vidconsult.services.node_link import NodeLink
from vidconsult.services.room_routing import RoomRouter


class OnSilentNode:
    """The live state's placement: every room is on node "silent" (which never answers)."""

    async def where(self, room_id: str) -> str | None:
        return "silent"


@pytest.fixture
async def router() -> AsyncIterator[RoomRouter]:
    hub = MemoryHub(ttl=60)
    here = NodeLink(hub.node("here").bus, "here")
    await here.start()
    yield RoomRouter(object(), here, OnSilentNode(), timeout=0.2)  # type: ignore[arg-type]
    await here.close()


async def test_a_listing_shows_nobody_but_a_decision_is_refused(router: RoomRouter) -> None:
    views = await router.live(["rm_1"], include_hidden=True)
    assert views["rm_1"].participants == [] and views["rm_1"].waiting == []
    with pytest.raises(Unavailable) as refused:
        await router.live(["rm_1"], include_hidden=True, strict=True)
    assert refused.value.code == "node_unavailable"
