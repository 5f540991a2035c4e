"""A rolling upgrade: a node of the release before ``room.command`` still sends ``room.act``
for a REST remove/admit/decline/mute; the room's node on this release does it (before, the
old node waited 5 s and answered 503 ``node_unavailable``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from vidconsult.cluster.memory import MemoryHub
from vidconsult.errors import InvalidInput
from vidconsult.services.node_link import NodeLink
from vidconsult.services.room_routing import LEGACY_ACT, RoomRouter


class RecordingRooms:
    """The room service's live actions, as calls written down."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict[str, str]]] = []

    async def admit(self, room_id: str, target: str, **by: str) -> None:
        self.calls.append(("admit", room_id, target, by))

    async def decline(self, room_id: str, target: str, **by: str) -> None:
        self.calls.append(("decline", room_id, target, by))

    async def remove_by(self, room_id: str, target: str, **by: str) -> None:
        self.calls.append(("remove", room_id, target, by))

    async def request_mute(self, room_id: str, target: str, **by: str) -> None:
        self.calls.append(("mute", room_id, target, by))


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[NodeLink, RecordingRooms]]:
    """An old node's link (``old``) and the room's node on this release, with its rooms."""
    hub = MemoryHub(ttl=60)
    old = NodeLink(hub.node("old").bus, "old")
    new = NodeLink(hub.node("new").bus, "new")
    rooms = RecordingRooms()
    RoomRouter(rooms, new)  # type: ignore[arg-type]  # the live actions only
    await old.start()
    await new.start()
    yield old, rooms
    await old.close()
    await new.close()


def act(action: Any, target: Any = "pt-1", by: Any = None) -> dict[str, Any]:
    """``room.act`` as the release before ``room.command`` wrote it."""
    return {
        "room_id": "rm_1",
        "action": action,
        "target": target,
        "by": {"by": "coord", "role": "coordinator"} if by is None else by,
    }


async def test_an_older_nodes_room_act_is_done(nodes: tuple[NodeLink, RecordingRooms]) -> None:
    old, rooms = nodes
    for action in ("admit", "decline", "remove"):
        assert await old.request("new", LEGACY_ACT, act(action), timeout=5) == {"ok": True}
    await old.request("new", LEGACY_ACT, act("mute", by={"by": "dr", "by_name": "Dr Li"}))
    assert rooms.calls == [
        ("admit", "rm_1", "pt-1", {"by": "coord", "role": "coordinator"}),
        ("decline", "rm_1", "pt-1", {"by": "coord", "role": "coordinator"}),
        ("remove", "rm_1", "pt-1", {"by": "coord", "role": "coordinator"}),
        ("mute", "rm_1", "pt-1", {"by": "dr", "by_name": "Dr Li"}),
    ]


@pytest.mark.parametrize(
    "payload",
    [act("bandwidth"), act(None), act("admit", target=None), act("admit", by="coord")],
    ids=["not a live action", "no action", "no target", "by not an object"],
)
async def test_a_malformed_room_act_is_refused_and_does_nothing(
    nodes: tuple[NodeLink, RecordingRooms], payload: dict[str, Any]
) -> None:
    old, rooms = nodes
    with pytest.raises(InvalidInput) as refused:
        await old.request("new", LEGACY_ACT, payload, timeout=5)
    assert refused.value.code == "unknown_room_command"
    assert rooms.calls == []
